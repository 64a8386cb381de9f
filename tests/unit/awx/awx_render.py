"""Render a custom credential type's injectors the way AWX does (awx/main/models/credential.py, read there).

- the template namespace holds the credential's inputs; a field it does not hold, or holds empty, is
  absent, so ``{{ field }}`` renders ``""``; a boolean field it does not hold is ``False``;
- every ``file`` injector is rendered and written to a new file (mode 0600) in ``<private_data_dir>/env``,
  whatever its content, and ``{{ tower.filename.<label> }}`` is that file's path;
- templates run in Jinja's immutable sandbox.
Used by the unit tests of docs/awx and by the AWX-like integration target to write env/envvars.
"""

import os
import stat
import tempfile
from types import SimpleNamespace

from jinja2.sandbox import ImmutableSandboxedEnvironment


def render_injectors(credential_type, inputs, private_data_dir):
    """The environment the credential injects; file injectors are written under ``private_data_dir``/env."""
    namespace = {}
    for field in credential_type["inputs"].get("fields", []):
        value = inputs.get(field["id"])
        if field["type"] == "boolean":
            namespace[field["id"]] = bool(value)
        elif value is not None and len(value):
            namespace[field["id"]] = value
    sandbox = ImmutableSandboxedEnvironment()
    tower = SimpleNamespace(filename=SimpleNamespace())
    env_dir = os.path.join(private_data_dir, "env")
    os.makedirs(env_dir, exist_ok=True)
    for label, template in credential_type["injectors"].get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as out:
            out.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." in label:
            setattr(tower.filename, label.split(".", 1)[1], path)
        else:
            tower.filename = path
    return {name: sandbox.from_string(template).render(tower=tower, **namespace)
            for name, template in credential_type["injectors"].get("env", {}).items()}
