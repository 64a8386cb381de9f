"""OData query options as Microsoft Graph implements them: ``$filter``, ``$select``, ``$top``,
``$orderby``, ``$count``, ``$search`` and ``$skiptoken`` paging.

Pure module: no HTTP, no world. Handlers call :func:`parse_query` with the request's query pairs
and headers, then :meth:`Query.page` over an iterable of stored objects. Problems are raised as
:class:`ODataError` (status, Graph error code, message) for the caller to turn into an error body.

Filters compile to closures once per request, so evaluating them over a large collection is a
plain function call per object; collections are consumed lazily and never copied whole.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import operator
import re
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

__all__ = [
    "ODataError",
    "Query",
    "compile_filter",
    "parse_query",
    "public",
    "select_fields",
]

DIRECTORY_MAX_TOP = 999
DEFAULT_PAGE_SIZE = 100

# Graph directory objects only answer these in "advanced query" mode (ConsistencyLevel: eventual
# plus $count=true); everything else in the filter language works by default.
_ADVANCED_OPERATORS = {"ne", "not", "endswith"}

_PLAIN_ORDERBY = {"displayName", "userPrincipalName"}


class ODataError(Exception):
    """A query the service refuses; ``status``/``code``/``message`` go into Graph's error body."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# --------------------------------------------------------------------------------------------
# $filter: tokenizer
# --------------------------------------------------------------------------------------------

_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2}))?(?![\w:.-])"
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[lLdDfFmM]?(?![\w.])")
_IDENT_RE = re.compile(r"[A-Za-z_][\w.@]*|\$[A-Za-z]\w*")


@dataclass(slots=True)
class _Tok:
    kind: str  # ident, str, num, guid, datetime, '(', ')', ',', ':', '/', end
    value: Any
    pos: int


class _Syntax(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "'":
            # OData escapes a quote inside a string literal by doubling it.
            j, buf = i + 1, []
            while True:
                k = text.find("'", j)
                if k < 0:
                    raise _Syntax(f"There is an unterminated string literal at position {i} in '{text}'.")
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == "'":
                    buf.append("'")
                    j = k + 2
                    continue
                toks.append(_Tok("str", "".join(buf), i))
                i = k + 1
                break
            continue
        if c in "(),:/":
            toks.append(_Tok(c, c, i))
            i += 1
            continue
        m = _GUID_RE.match(text, i)
        if m:
            toks.append(_Tok("guid", m.group().lower(), i))
            i = m.end()
            continue
        m = _DATETIME_RE.match(text, i)
        if m:
            toks.append(_Tok("datetime", _parse_datetime(m.group()), i))
            i = m.end()
            continue
        m = _NUMBER_RE.match(text, i)
        if m:
            raw = m.group().rstrip("lLdDfFmM")
            num: float | int = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
            toks.append(_Tok("num", num, i))
            i = m.end()
            continue
        m = _IDENT_RE.match(text, i)
        if m:
            toks.append(_Tok("ident", m.group(), i))
            i = m.end()
            continue
        raise _Syntax(f"Syntax error: character '{c}' is not valid at position {i} in '{text}'.")
    toks.append(_Tok("end", None, n))
    return toks


def _parse_datetime(value: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------------------------
# $filter: recursive-descent parser that compiles straight to closures
# --------------------------------------------------------------------------------------------

Pred = Callable[[Any], Any]

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_KEYWORDS = _COMPARISONS | {"and", "or", "not", "in", "true", "false", "null", "has"}


@dataclass(slots=True)
class _Operand:
    fn: Pred  # obj -> value
    kind: str  # "prop", "literal", "bool" (a boolean expression), "list"
    prop: str | None = None  # top-level property name for error messages
    literal: Any = None


@dataclass
class FilterInfo:
    """What a compiled filter uses; the caller decides which uses are allowed."""

    advanced: list[tuple[str, str]] = field(default_factory=list)  # (operator, property)
    properties: set[str] = field(default_factory=set)


class _Parser:
    def __init__(self, text: str, allowed: set[str] | None, entity: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.allowed = allowed
        self.entity = entity
        self.info = FilterInfo()
        self.lambda_vars: list[str] = []

    # token helpers ------------------------------------------------------------------------
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def at_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.value.lower() in words

    def expect(self, kind: str) -> _Tok:
        tok = self.next()
        if tok.kind != kind:
            self.fail_at(tok, expected=kind)
        return tok

    def fail_at(self, tok: _Tok, expected: str | None = None):
        if tok.kind == "end":
            raise _Syntax(f"Expression expected at position {tok.pos} in '{self.text}'.")
        if expected == ")":
            raise _Syntax(f"')' or operator expected at position {tok.pos} in '{self.text}'.")
        raise _Syntax(
            f"Syntax error: character '{self.text[tok.pos]}' is not valid at position {tok.pos} in '{self.text}'."
        )

    # grammar --------------------------------------------------------------------------------
    def parse(self) -> Pred:
        expr = self.parse_or()
        if self.peek().kind != "end":
            self.fail_at(self.peek())
        return _as_predicate(expr)

    def parse_or(self) -> _Operand:
        left = self.parse_and()
        while self.at_word("or"):
            self.next()
            right = self.parse_and()
            lf, rf = _as_predicate(left), _as_predicate(right)
            left = _Operand(lambda o, lf=lf, rf=rf: bool(lf(o)) or bool(rf(o)), "bool", prop=left.prop or right.prop)
        return left

    def parse_and(self) -> _Operand:
        left = self.parse_not()
        while self.at_word("and"):
            self.next()
            right = self.parse_not()
            lf, rf = _as_predicate(left), _as_predicate(right)
            left = _Operand(lambda o, lf=lf, rf=rf: bool(lf(o)) and bool(rf(o)), "bool", prop=left.prop or right.prop)
        return left

    def parse_not(self) -> _Operand:
        if self.at_word("not"):
            self.next()
            inner = self.parse_not()
            self.info.advanced.append(("not", inner.prop or ""))
            f = _as_predicate(inner)
            return _Operand(lambda o, f=f: not f(o), "bool", prop=inner.prop)
        return self.parse_comparison()

    def parse_comparison(self) -> _Operand:
        left = self.parse_primary()
        tok = self.peek()
        if tok.kind != "ident":
            return left
        op = tok.value.lower()
        if op in _COMPARISONS:
            self.next()
            right = self.parse_primary()
            if op == "ne":
                self.info.advanced.append(("ne", left.prop or right.prop or ""))
            return _compare(op, left, right)
        if op == "in":
            self.next()
            self.expect("(")
            items = [self.parse_primary()]
            while self.peek().kind == ",":
                self.next()
                items.append(self.parse_primary())
            self.expect(")")
            if any(it.kind != "literal" for it in items):
                raise _Syntax(f"The 'in' operator needs a list of literals in '{self.text}'.")
            values = [_norm(it.literal) for it in items]
            lf = left.fn
            return _Operand(lambda o, lf=lf, values=values: _norm(lf(o)) in values, "bool", prop=left.prop)
        if op == "has":
            raise ODataError(400, "Request_UnsupportedQuery", "Unsupported Query.")
        return left

    def parse_primary(self) -> _Operand:
        tok = self.next()
        kind = tok.kind
        if kind == "(":
            inner = self.parse_or()
            if self.peek().kind != ")":
                self.fail_at(self.peek(), expected=")")
            self.next()
            return inner
        if kind in ("str", "num", "guid"):
            return _literal(tok.value)
        if kind == "datetime":
            if tok.value is None:
                raise _Syntax(f"The DateTimeOffset text at position {tok.pos} in '{self.text}' is not valid.")
            return _literal(tok.value)
        if kind != "ident":
            self.fail_at(tok)
        word = tok.value
        low = word.lower()
        if low == "true":
            return _literal(True)
        if low == "false":
            return _literal(False)
        if low == "null":
            return _literal(None)
        if self.peek().kind == "(" and low not in self.lambda_vars:
            return self.parse_function(tok)
        if low in _KEYWORDS:
            self.fail_at(tok)
        return self.parse_path(tok)

    def parse_function(self, name_tok: _Tok) -> _Operand:
        name = name_tok.value.lower()
        if name not in ("startswith", "endswith"):
            # contains(), tolower(), length() ... are not offered on directory objects.
            raise ODataError(
                400,
                "Request_UnsupportedQuery",
                f"Unsupported property filter clause operator '{name_tok.value}'.",
            )
        self.expect("(")
        subject = self.parse_primary()
        self.expect(",")
        prefix = self.parse_primary()
        if self.peek().kind != ")":
            self.fail_at(self.peek(), expected=")")
        self.next()
        if prefix.kind != "literal" or not isinstance(prefix.literal, str):
            raise _Syntax(f"The second argument of '{name_tok.value}' must be a string literal in '{self.text}'.")
        if name == "endswith":
            self.info.advanced.append(("endswith", subject.prop or ""))
        needle = prefix.literal.casefold()
        sf = subject.fn
        at_start = name == "startswith"

        def fn(o, sf=sf):
            v = sf(o)
            if not isinstance(v, str):
                return False
            v = v.casefold()
            return v.startswith(needle) if at_start else v.endswith(needle)

        return _Operand(fn, "bool", prop=subject.prop)

    def parse_path(self, first: _Tok) -> _Operand:
        segments = [first.value]
        while self.peek().kind == "/":
            self.next()
            seg = self.next()
            if seg.kind != "ident":
                self.fail_at(seg)
            if seg.value.lower() in ("any", "all"):
                return self.parse_lambda(segments, seg)
            if seg.value == "$count":
                raise ODataError(400, "Request_UnsupportedQuery", "Unsupported Query.")
            segments.append(seg.value)
        return self.make_path(segments, first)

    def make_path(self, segments: list[str], first: _Tok) -> _Operand:
        root = segments[0]
        if root in self.lambda_vars:
            rest = segments[1:]
            return _Operand(_path_getter(rest, root_var=root), "prop", prop=root)
        if self.allowed is not None and root not in self.allowed:
            raise ODataError(
                400,
                "BadRequest",
                f"Could not find a property named '{root}' on type 'microsoft.graph.{self.entity}'.",
            )
        self.info.properties.add(root)
        return _Operand(_path_getter(segments), "prop", prop=root)

    def parse_lambda(self, segments: list[str], op_tok: _Tok) -> _Operand:
        collection = self.make_path(segments, op_tok)
        op = op_tok.value.lower()
        self.expect("(")
        if self.peek().kind == ")":
            self.next()
            if op == "all":
                self.fail_at(op_tok)
            cf = collection.fn
            return _Operand(lambda o, cf=cf: bool(cf(o)), "bool", prop=collection.prop)
        var = self.expect("ident").value
        self.expect(":")
        self.lambda_vars.append(var)
        try:
            body = _as_predicate(self.parse_or())
        finally:
            self.lambda_vars.pop()
        if self.peek().kind != ")":
            self.fail_at(self.peek(), expected=")")
        self.next()
        cf = collection.fn
        quant = any if op == "any" else all

        def fn(o, cf=cf, body=body, var=var, quant=quant):
            items = cf(o)
            if not isinstance(items, list):
                return False
            return quant(body({var: it}) for it in items)

        return _Operand(fn, "bool", prop=collection.prop)


def _literal(value: Any) -> _Operand:
    return _Operand(lambda o, v=value: v, "literal", literal=value)


def _path_getter(segments: list[str], root_var: str | None = None) -> Pred:
    if root_var is not None:
        # Inside a lambda the evaluated "object" is {var: element}.
        def get_var(o, segments=segments, var=root_var):
            v = o.get(var)
            for s in segments:
                if not isinstance(v, dict):
                    return None
                v = v.get(s)
            return v

        return get_var
    if len(segments) == 1:
        key = segments[0]
        return lambda o: o.get(key)

    def get(o):
        v = o
        for s in segments:
            if not isinstance(v, dict):
                return None
            v = v.get(s)
        return v

    return get


def _as_predicate(operand: _Operand) -> Pred:
    if operand.kind == "bool":
        return operand.fn
    if operand.kind == "prop":
        # A bare boolean property (e.g. "securityEnabled") is a valid boolean expression.
        f = operand.fn
        return lambda o: f(o) is True
    if operand.kind == "literal" and isinstance(operand.literal, bool):
        return operand.fn
    raise _Syntax("A boolean expression was expected.")


def _norm(v: Any) -> Any:
    """Comparable form: directory string comparison ignores case (GUIDs included)."""
    if isinstance(v, str):
        return v.casefold()
    return v


def _coerce_pair(a: Any, b: Any) -> tuple[Any, Any]:
    # Stored datetimes are ISO strings; a datetime literal makes the comparison temporal.
    if isinstance(a, datetime) and isinstance(b, str):
        b = _parse_datetime(b)
    elif isinstance(b, datetime) and isinstance(a, str):
        a = _parse_datetime(a)
    return _norm(a), _norm(b)


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    a, b = _coerce_pair(a, b)
    return a == b


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    cmp = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}[op]

    def f(a: Any, b: Any) -> bool:
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return False
        a, b = _coerce_pair(a, b)
        if a is None or b is None:
            return False
        try:
            return cmp(a, b)
        except TypeError:
            return False

    return f


def _compare(op: str, left: _Operand, right: _Operand) -> _Operand:
    lf, rf = left.fn, right.fn
    prop = left.prop or right.prop
    # Fast path: property eq literal string, the overwhelmingly common case.
    if op == "eq" and left.kind == "prop" and right.kind == "literal" and isinstance(right.literal, str):
        needle = right.literal.casefold()

        def eq_str(o, lf=lf, needle=needle, lit=right.literal):
            v = lf(o)
            if isinstance(v, str):
                return v.casefold() == needle
            return _eq(v, lit)

        return _Operand(eq_str, "bool", prop=prop)
    if op == "eq":
        return _Operand(lambda o: _eq(lf(o), rf(o)), "bool", prop=prop)
    if op == "ne":
        return _Operand(lambda o: not _eq(lf(o), rf(o)), "bool", prop=prop)
    cmp = _ordered(op)
    return _Operand(lambda o: cmp(lf(o), rf(o)), "bool", prop=prop)


def compile_filter(
    text: str, *, allowed: Iterable[str] | None = None, entity: str = "directoryObject"
) -> tuple[Pred, FilterInfo]:
    """Compile a ``$filter`` expression; returns (predicate, info). Raises :class:`ODataError`."""
    if not text.strip():
        raise ODataError(400, "BadRequest", "Invalid filter clause: The filter expression is empty.")
    try:
        parser = _Parser(text, set(allowed) if allowed is not None else None, entity)
        pred = parser.parse()
    except _Syntax as exc:
        raise ODataError(400, "BadRequest", f"Invalid filter clause: {exc.message}") from None
    except RecursionError:
        raise ODataError(400, "BadRequest", "Invalid filter clause: The filter expression is too deep.") from None
    return pred, parser.info


# --------------------------------------------------------------------------------------------
# $search (minimal): "prop:term" clauses joined by AND / OR
# --------------------------------------------------------------------------------------------

_SEARCH_CLAUSE = re.compile(r'\s*"([A-Za-z][\w/]*):([^"]*)"\s*')
_WORD = re.compile(r"[0-9A-Za-z]+")


def _compile_search(text: str, allowed: set[str] | None, entity: str) -> Pred:
    pos, clauses, joins = 0, [], []
    while True:
        m = _SEARCH_CLAUSE.match(text, pos)
        if not m:
            raise ODataError(400, "Request_UnsupportedQuery", f"Invalid search request: '{text}'.")
        prop, term = m.group(1), m.group(2)
        if allowed is not None and prop not in allowed:
            raise ODataError(
                400, "Request_UnsupportedQuery", f"Unsupported search property '{prop}' for resource '{entity}'."
            )
        words = [w.casefold() for w in _WORD.findall(term)]
        clauses.append((prop, words))
        pos = m.end()
        if pos >= len(text):
            break
        j = re.match(r"(AND|OR)\b", text[pos:])
        if not j:
            raise ODataError(400, "Request_UnsupportedQuery", f"Invalid search request: '{text}'.")
        joins.append(j.group(1))
        pos += j.end()

    def clause_fn(prop: str, words: list[str]) -> Pred:
        def f(o):
            value = o.get(prop)
            if not isinstance(value, str):
                return False
            tokens = [t.casefold() for t in _tokens_for_search(value)]
            # Graph tokenizes the value and matches each searched word as a token prefix.
            return all(any(t.startswith(w) for t in tokens) for w in words)

        return f

    fns = [clause_fn(p, w) for p, w in clauses]

    def pred(o):
        result = fns[0](o)
        for join, f in zip(joins, fns[1:], strict=True):
            result = (result and f(o)) if join == "AND" else (result or f(o))
        return result

    return pred


def _tokens_for_search(value: str) -> list[str]:
    words = _WORD.findall(value)
    # camelCase is split too ("AdminAgents" is found by "agents").
    out = []
    for w in words:
        out.append(w)
        out.extend(re.findall(r"[A-Z][a-z0-9]+|[a-z0-9]+", w)[1:])
    return out


# --------------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------------


def public(obj: Any) -> Any:
    """A JSON-ready copy without internal ``_`` keys (copies only what it returns)."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if k[:1] != "_"}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    if isinstance(obj, (set, frozenset, tuple)):
        return [public(v) for v in obj]
    return obj


def select_fields(obj: dict, select: Sequence[str] | None) -> dict:
    """``$select``: the listed properties plus ``id`` and ``@odata.type`` (Graph keeps both)."""
    if not select:
        return public(obj)
    out = {}
    if "@odata.type" in obj:
        out["@odata.type"] = obj["@odata.type"]
    if "id" in obj:
        out["id"] = obj["id"]
    for name in select:
        if name in obj:
            out[name] = public(obj[name])
        elif name.startswith("@"):
            continue  # control information (@odata.etag …) is added by the caller, never null
        else:
            # Selected but unset properties come back as null, as Graph does.
            out.setdefault(name, None)
    return out


# --------------------------------------------------------------------------------------------
# The request's query
# --------------------------------------------------------------------------------------------

_KNOWN_OPTIONS = {
    "$filter",
    "$select",
    "$top",
    "$orderby",
    "$count",
    "$search",
    "$skiptoken",
    "$skip",
    "$expand",
    "$format",
}


@dataclass
class Query:
    predicate: Pred | None = None
    select: list[str] | None = None
    top: int | None = None
    orderby: list[tuple[Pred, bool]] = field(default_factory=list)
    count: bool = False
    offset: int = 0
    empty_pages: bool = False  # serve an empty page (with a nextLink) before each later page
    served_empty: bool = False  # this request follows such an empty page
    page_size: int = DEFAULT_PAGE_SIZE
    fingerprint: bytes = b""
    carried: list[tuple[str, str]] = field(default_factory=list)  # original options for nextLink

    def matches(self, obj: dict) -> bool:
        return self.predicate is None or bool(self.predicate(obj))

    def filtered(self, items: Iterable[dict]) -> Iterator[dict]:
        if self.predicate is None:
            return iter(items)
        pred = self.predicate
        return (o for o in items if pred(o))

    def page(
        self,
        items: Iterable[dict],
        *,
        link_base: str,
        context: str | None = None,
        project: Callable[[dict, Sequence[str] | None], dict] | None = None,
    ) -> dict:
        """One page of ``items`` as Graph's collection body, with ``@odata.nextLink`` if more."""
        project = project or select_fields
        if self.empty_pages and self.offset > 0 and not self.served_empty:
            # Graph may answer a page with no items but a nextLink; clients must keep following.
            body = {"@odata.context": context} if context else {}
            body["@odata.nextLink"] = self.next_link(link_base, self.offset, served_empty=True)
            body["value"] = []
            return body
        if self.page_size <= 0:
            body = {"@odata.context": context} if context else {}
            if self.count:
                body["@odata.count"] = sum(1 for _ in self.filtered(items))
            body["value"] = []
            return body
        if self.orderby or self.count:
            rows: Sequence[dict] | Iterator[dict] = list(self.filtered(items))
            total = len(rows)
            if self.orderby:
                rows = _sorted(rows, self.orderby)
            window = rows[self.offset : self.offset + self.page_size + 1]
        else:
            total = 0
            window = list(itertools.islice(self.filtered(items), self.offset, self.offset + self.page_size + 1))
        more = len(window) > self.page_size
        body: dict[str, Any] = {}
        if context:
            body["@odata.context"] = context
        if self.count and self.offset == 0:
            body["@odata.count"] = total
        if more:
            body["@odata.nextLink"] = self.next_link(link_base, self.offset + self.page_size)
        body["value"] = [project(o, self.select) for o in window[: self.page_size]]
        return body

    def next_link(self, link_base: str, offset: int, served_empty: bool = False) -> str:
        token = _encode_skiptoken(offset, self.fingerprint, served_empty)
        parts = [f"{k}={quote(v, safe=_LINK_SAFE)}" for k, v in self.carried]
        parts.append(f"$skiptoken={token}")
        return f"{link_base}?{'&'.join(parts)}"


_LINK_SAFE = "$'(),:/@!*;"


def _sort_key(v: Any) -> tuple:
    # (null last, type rank, value): values of different JSON types never compare directly.
    if v is None:
        return (1, 0, "")
    if isinstance(v, str):
        return (0, 0, v.casefold())
    if isinstance(v, (bool, int, float)):
        return (0, 1, float(v))
    return (0, 2, repr(v))


def _sorted(rows: Sequence[dict], orderby: list[tuple[Pred, bool]]) -> list[dict]:
    out = list(rows)
    # Stable sorts from the last key to the first give a multi-key order with mixed directions.
    for getter, desc in reversed(orderby):
        out.sort(key=lambda o, g=getter: _sort_key(g(o)), reverse=desc)
    return out


def _encode_skiptoken(offset: int, fingerprint: bytes, served_empty: bool = False) -> str:
    raw = b"CSPE" + struct.pack(">BIB", 1, offset, 1 if served_empty else 0) + fingerprint
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_skiptoken(token: str) -> tuple[int, bool, bytes] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) < 10 or raw[:4] != b"CSPE" or raw[4] != 1:
        return None
    offset, flags = struct.unpack(">IB", raw[5:10])
    return offset, bool(flags & 1), raw[10:]


def _fingerprint(path: str, options: list[tuple[str, str]]) -> bytes:
    h = hashlib.blake2s(digest_size=8)
    h.update(path.lower().encode())
    for k, v in sorted(options):
        h.update(b"\0" + k.encode() + b"=" + v.encode())
    return h.digest()


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        low = name.lower()
        for k, v in headers.items():
            if k.lower() == low:
                return v
    return value


def _as_pairs(params: Mapping[str, Any] | Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        pairs = []
        for k, v in params.items():
            if isinstance(v, (list, tuple)):
                pairs.extend((k, str(x)) for x in v)
            else:
                pairs.append((k, str(v)))
        return pairs
    return [(str(k), str(v)) for k, v in params]


def parse_query(
    params: Mapping[str, Any] | Iterable[tuple[str, str]] | None,
    headers: Mapping[str, str] | None = None,
    *,
    path: str = "",
    entity: str = "directoryObject",
    resource: str | None = None,
    directory: bool = True,
    allowed: Iterable[str] | None = None,
    max_top: int = DIRECTORY_MAX_TOP,
    page_size: int = DEFAULT_PAGE_SIZE,
    allow: Iterable[str] = ("$filter", "$select", "$top", "$orderby", "$count", "$search"),
    raw_count: bool = False,
    empty_pages: bool = False,
) -> Query:
    """Parse and validate the OData options of a collection GET.

    ``directory`` applies the directory-object rules (advanced queries need
    ``ConsistencyLevel: eventual`` and ``$count=true``; no ``$skip``); ``allowed`` lists the
    entity's property names (unknown names in ``$filter``/``$select``/``$orderby`` → 400);
    ``path`` is the request path without query, part of the skip-token fingerprint;
    ``raw_count`` is for ``/$count`` segments, where ConsistencyLevel alone enables advanced queries;
    ``empty_pages`` makes every page after the first come after an empty page (as Graph may do).
    """
    pairs = _as_pairs(params)
    options: dict[str, str] = {}
    carried: list[tuple[str, str]] = []
    allow_set = set(allow)
    allowed_set = set(allowed) if allowed is not None else None
    resource = resource or (entity[:1].upper() + entity[1:])
    for key, value in pairs:
        low = key.lower()
        if low.startswith("$"):
            name = low
        elif "$" + low in _KNOWN_OPTIONS:
            name = "$" + low  # Graph also accepts the system query options without the dollar sign
        else:
            continue  # non-OData parameters belong to the handler
        if name in options:
            raise ODataError(
                400,
                "BadRequest",
                f"Query option '{name}' was specified more than once, but it must be specified at most once.",
            )
        options[name] = value
        if name != "$skiptoken":
            carried.append((name, value))
    for name in options:
        if name not in _KNOWN_OPTIONS:
            raise ODataError(400, "BadRequest", f"The query parameter '{name}' is not supported.")
        if name in ("$skiptoken", "$format"):
            continue
        if name not in allow_set:
            if name == "$skip" and directory:
                raise ODataError(400, "Request_BadRequest", "'$skip' is not supported by the service.")
            raise ODataError(
                400,
                "BadRequest",
                f"The query specified in the URI is not valid. Query option '{name[1:].capitalize()}' is not allowed. "
                "To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.",
            )

    q = Query(page_size=page_size, carried=carried, empty_pages=empty_pages)
    eventual = (_header(headers, "ConsistencyLevel") or "").strip().lower() == "eventual"

    count = options.get("$count")
    if count is not None:
        if count.lower() not in ("true", "false"):
            raise ODataError(400, "BadRequest", f"Invalid value '{count}' for $count query option found.")
        q.count = count.lower() == "true"
        if q.count and directory and not eventual:
            raise ODataError(400, "Request_BadRequest", "$count is not currently supported.")
    advanced_mode = eventual and (q.count or raw_count)

    top = options.get("$top")
    if top is not None:
        try:
            n = int(top)
        except ValueError:
            raise ODataError(
                400, "BadRequest", f"Invalid value '{top}' for $top query option found. Expected a positive integer."
            ) from None
        if directory and not 1 <= n <= max_top:
            raise ODataError(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{n}'. Must be between 1 and {max_top} inclusive.",
            )
        if not directory and n > max_top:
            raise ODataError(
                400,
                "BadRequest",
                f"The limit of '{max_top}' for Top query has been exceeded. The value from the incoming request is '{n}'.",
            )
        if n < 0:
            raise ODataError(400, "BadRequest", f"Invalid value '{top}' for $top query option found.")
        q.top = n
        # For Graph $top is the page size; more pages follow through @odata.nextLink.
        q.page_size = n

    predicates: list[Pred] = []
    filt = options.get("$filter")
    if filt is not None:
        pred, info = compile_filter(filt, allowed=allowed_set, entity=entity)
        if directory and info.advanced and not advanced_mode:
            _op, prop = info.advanced[0]
            raise ODataError(
                400,
                "Request_UnsupportedQuery",
                f"Unsupported or invalid query filter clause specified for property '{prop}' of resource '{resource}'."
                if prop
                else "Unsupported Query.",
            )
        predicates.append(pred)

    search = options.get("$search")
    if search is not None:
        if directory and not eventual:
            raise ODataError(
                400,
                "Request_UnsupportedQuery",
                "Request with $search query parameter only works through MSGraph with a special request header: "
                "'ConsistencyLevel: eventual'",
            )
        text = search.strip()
        predicates.append(_compile_search(text, allowed_set, resource))

    if len(predicates) == 1:
        q.predicate = predicates[0]
    elif predicates:
        p1, p2 = predicates
        q.predicate = lambda o: bool(p1(o)) and bool(p2(o))

    select = options.get("$select")
    if select is not None:
        names = [s.strip() for s in select.split(",") if s.strip()]
        if not names:
            raise ODataError(400, "BadRequest", "Invalid $select: at least one property is required.")
        for name in names:
            if allowed_set is not None and name not in allowed_set and name != "id" and not name.startswith("@odata."):
                raise ODataError(
                    400,
                    "BadRequest",
                    f"Could not find a property named '{name}' on type 'microsoft.graph.{entity}'.",
                )
        q.select = names

    orderby = options.get("$orderby")
    if orderby is not None:
        for clause in orderby.split(","):
            parts = clause.split()
            if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
                raise ODataError(400, "BadRequest", f"Invalid $orderby clause: '{orderby}'.")
            prop = parts[0]
            segments = prop.split("/")
            if allowed_set is not None and segments[0] not in allowed_set:
                raise ODataError(
                    400,
                    "BadRequest",
                    f"Could not find a property named '{segments[0]}' on type 'microsoft.graph.{entity}'.",
                )
            if directory and not advanced_mode and (prop not in _PLAIN_ORDERBY or filt is not None):
                raise ODataError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
            q.orderby.append((_path_getter(segments), len(parts) == 2 and parts[1].lower() == "desc"))

    q.fingerprint = _fingerprint(path, carried)
    token = options.get("$skiptoken")
    if token is not None:
        decoded = _decode_skiptoken(token)
        if decoded is None:
            raise ODataError(400, "Request_BadRequest", "The specified page token value is invalid.")
        offset, served_empty, fp = decoded
        if fp != q.fingerprint:
            # The client changed the query between pages (or dropped parts of the nextLink).
            raise ODataError(
                400,
                "Request_BadRequest",
                "The specified page token does not belong to this query; follow @odata.nextLink as returned.",
            )
        q.offset = offset
        q.served_empty = served_empty
    return q
