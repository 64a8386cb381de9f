# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``CspModule``: the base every module of the collection is built on.

It wraps (does not subclass) AnsibleModule: merges the connection options into the module's
argument spec, builds the client lazily on first use, and turns a ``CspError`` into one clean
``fail_json``. Nothing but AnsibleModule runs in the constructor.
"""

import os

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from .errors import CspError
from .options import CONNECTION_ARGSPEC, ConnectionOptions, STORE_OPTIONS, holds_inline_vault_password

_LIBRARIES = (
    ("requests", "requests", "requests"),
    ("msal", "msal", "msal"),
    ("jmespath", "jmespath", "jmespath"),
    ("cryptography", "cryptography", "cryptography"),
)


def _missing(required):
    """The first required library that is not installed, without importing it: msal, requests and
    cryptography are imported where they are used, so a module that stops early (bad input) or never
    needs a token does not pay for them."""
    import importlib.util
    for import_name, pip_name, _label in _LIBRARIES:
        if import_name not in required:
            continue
        try:
            found = importlib.util.find_spec(import_name) is not None
        except (ImportError, ValueError) as exc:
            return pip_name, exc
        if not found:
            return pip_name, ImportError("No module named %r" % import_name)
    return None, None


def _hide_inline_vault_passwords(spec):
    """``no_log`` for a store option that carries a vault password inline, for this run only.

    A vault password is refused (``parse_store_spec``), but AnsibleModule logs its invocation and
    returns it at -vvv before any of our code runs; only an option marked ``no_log`` in the argument
    spec is masked there. So the parameters are looked at first and such an option is masked whole.
    """
    params = basic._load_params()  # what AnsibleModule reads next (it keeps the parsed input)
    if not isinstance(params, dict):  # ansible-test's argument spec introspection gives none
        return spec
    hidden = dict(spec)
    for name in STORE_OPTIONS:
        if name not in spec:
            continue
        value = params.get(name)
        if value in (None, "") and name == "refresh_token_store":
            value = os.environ.get("CSP_REFRESH_TOKEN_STORE")
        if holds_inline_vault_password(value):
            hidden[name] = dict(spec[name], no_log=True)
    return hidden


class CspModule:
    """AnsibleModule plus the collection's connection handling."""

    def __init__(self, argument_spec=None, connection_spec=None, required_libraries=("requests", "msal"),
                 **kwargs):
        spec = dict(CONNECTION_ARGSPEC if connection_spec is None else connection_spec)
        spec.update(argument_spec or {})
        self._module = AnsibleModule(argument_spec=_hide_inline_vault_passwords(spec), **kwargs)
        self._client = None
        missing, exc = _missing(required_libraries)
        if missing:
            self._module.fail_json(msg=missing_required_lib(missing), exception=str(exc))

    # --- delegation -------------------------------------------------------------------
    @property
    def params(self):
        return self._module.params

    @property
    def check_mode(self):
        return self._module.check_mode

    @property
    def diff_mode(self):
        return self._module._diff

    @property
    def no_log(self):
        return self._module.no_log

    @property
    def ansible_module(self):
        return self._module

    def exit_json(self, **kwargs):
        self._module.exit_json(**kwargs)

    def fail_json(self, msg, **kwargs):
        self._module.fail_json(msg=msg, **kwargs)

    def warn(self, warning):
        self._module.warn(warning)

    # --- client ----------------------------------------------------------------------
    def connection_options(self):
        return ConnectionOptions.from_module(self._module)

    @property
    def client(self):
        """The ``CspClient`` (built and validated on first use; may raise ``CspError``)."""
        if self._client is None:
            from .client import CspClient
            self._client = CspClient(self.connection_options())
        return self._client

    def fail_from_error(self, err, msg=None, **kwargs):
        """One failure for any ``CspError``: a readable ``msg`` and the structured ``error``."""
        if not isinstance(err, CspError):
            raise err
        text = str(err)
        if err.hint:
            text += ". " + err.hint if not text.endswith(".") else " " + err.hint
        if msg:
            text = "%s: %s" % (msg, text)
        self._module.fail_json(msg=text, error=err.to_result(), **kwargs)
