# Copyright: Contributors to the cloudpartner.csp collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JMESPath queries over results, compiled before any request is sent."""

from .errors import CspValidationError

try:
    import jmespath
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - sanity's import test runs without it
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = exc


def compile_query(expression, name="query"):
    """Compiled JMESPath expression, None for no query; a bad one is a validation error naming the option."""
    if expression is None or expression == "":
        return None
    if not HAS_JMESPATH:
        raise CspValidationError("%s needs the Python library 'jmespath'" % name, code="MissingLibrary")
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise CspValidationError("%s %r is not a valid JMESPath expression: %s" % (name, expression, detail),
                                 code="InvalidQuery") from None


def apply_query(compiled, data):
    if compiled is None:
        return data
    try:
        return compiled.search(data)
    except jmespath.exceptions.JMESPathError as exc:
        raise CspValidationError("query failed on the result: %s" % exc, code="QueryFailed") from None
