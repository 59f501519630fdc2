"""One reading of JSON that arrives from outside: what Python's ``json`` accepts but Loupe cannot keep.

``json.loads`` happily returns values PostgreSQL, the renderers or the services then choke on, far
from the request that brought them: ``\\u0000`` (jsonb and text refuse it), lone surrogates
(``\\ud800``: not encodable as UTF-8), ``NaN``/``Infinity`` and ``1e999`` (jsonb refuses them; the
strict renderer cannot write them back), integers of thousands of digits, and nesting thousands deep
(a ``RecursionError`` in the decoder). ``json_loads`` refuses all of these with a ``JsonInputError``
that names where the value is (``at $.metadata.tags[3]``), so every door answers a 400 that says what
to fix. ``json_value_problem`` applies the same rules to a value some other parser built (the import
and metadata-job files are streamed with ijson), so a file entry is refused for the same reasons.

Callers: ``apps.core.parsers.StrictJSONParser`` (every DRF view, the Encord routes included), the JSON
fields of page forms, and the file-entry checks of imports and metadata jobs. Pure Python, no Django:
the import-file parser uses it too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

# Deeper than any metadata, registration or Encord body has a use for; far below the decoder's
# recursion limit and PostgreSQL's stack depth for jsonb.
MAX_DEPTH = 64
# A JSON number must fit a double for any client to read it back (a larger integer is ``Infinity`` in
# JavaScript, an OverflowError when a service converts it to float): 309 digits is already past 1.8e308.
MAX_INT_DIGITS = 309
_INT_LIMIT = 10**MAX_INT_DIGITS


class JsonInputError(ValueError):
    """JSON that cannot be accepted; ``str()`` says what and where (a JSONPath such as ``$.a[2]``)."""


class _HugeInt:
    """An integer literal over ``MAX_INT_DIGITS`` digits, kept as its digit count (never converted;
    not a number, so no arithmetic, such as the finite-sum shortcut below, can let it through)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits


def _parse_int(text: str) -> int | _HugeInt:
    digits = len(text.lstrip("-"))
    return _HugeInt(digits) if digits > MAX_INT_DIGITS else int(text)


def _jsonpath(path: tuple) -> str:
    """``$.a[0]["b c"]`` from the linked path ``(((None, "a"), 0), "b c")``."""
    parts = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}" if key.isidentifier()
                     else f"[{json.dumps(key, ensure_ascii=True)}]")
    text = "$" + "".join(reversed(parts))
    return text if len(text) <= 80 else text[:80] + "…"


def _pointer(path: tuple) -> str:
    """The RFC 6901 JSON pointer of a linked path (``/a/0/b~1c``)."""
    parts = []
    while path is not None:
        path, key = path
        parts.append("/" + str(key).replace("~", "~0").replace("/", "~1"))
    return "".join(reversed(parts))


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate ({ascii(text[exc.start])[1:-1]}), which is not valid Unicode"
    return None


def _all_finite_numbers(items: list) -> bool:
    """True when every element is a finite float or a float-sized int: one C-speed ``sum`` for an
    embedding's thousands of floats instead of a visit each. False means "look at each one"."""
    try:
        return math.isfinite(sum(items, 0.0))
    except (TypeError, OverflowError):  # not all numbers, or an int past float range
        return False


def _first_problem(value: Any, max_depth: int) -> tuple[tuple | None, str] | None:
    """(linked path, reason) of the first unstorable place in ``value``, or None.

    Walks iteratively, so a deep value costs no recursion. Strings and keys must be valid Unicode
    without NUL; numbers finite and at most ``MAX_INT_DIGITS`` digits; nesting at most ``max_depth``.
    """
    stack: list[tuple[Any, tuple | None, int]] = [(value, None, 0)]
    while stack:
        node, path, depth = stack.pop()
        kind = type(node)
        if kind is dict or kind is list:
            if depth >= max_depth:
                return path, f"nested deeper than {max_depth} levels"
            if kind is dict:
                for key, child in node.items():
                    problem = _string_problem(key) if isinstance(key, str) else None
                    if problem:
                        return path, f"a key {problem}"
                    stack.append((child, (path, key), depth + 1))
            elif not _all_finite_numbers(node):
                stack.extend((child, (path, index), depth + 1) for index, child in enumerate(node))
        elif isinstance(node, str):
            problem = _string_problem(node)
            if problem:
                return path, f"the string {problem}"
        elif isinstance(node, _HugeInt):
            return path, f"an integer of {node.digits} digits is out of range (at most {MAX_INT_DIGITS})"
        elif isinstance(node, float | Decimal) and not math.isfinite(node):
            return path, f"{node} is not a finite number (NaN, Infinity and overflows like 1e999 are refused)"
        elif isinstance(node, int) and abs(node) >= _INT_LIMIT:  # from other parsers (ijson's exact numbers)
            return path, f"an integer of more than {MAX_INT_DIGITS} digits is out of range"
    return None


def json_value_problem(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """What makes ``value`` (decoded JSON) unstorable, at its JSONPath (``at $.a[2]: ...``), or None."""
    found = _first_problem(value, max_depth)
    return None if found is None else f"at {_jsonpath(found[0])}: {found[1]}"


def json_value_problem_pointer(value: Any, *, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """(JSON pointer relative to ``value``, reason) of its first unstorable place, or None: for
    callers that report RFC 6901 pointers (the import format's entry errors)."""
    found = _first_problem(value, max_depth)
    return None if found is None else (_pointer(found[0]), found[1])


def json_loads(data: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` for outside input: the decoded value, or ``JsonInputError`` saying what and where."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInputError(f"not UTF-8 at byte {exc.start}") from None
    try:
        value = json.loads(data, parse_int=_parse_int, parse_constant=float)
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:  # the C decoder recurses per level; far deeper than max_depth anyway
        raise JsonInputError(f"nested deeper than {max_depth} levels") from None
    problem = json_value_problem(value, max_depth=max_depth)
    if problem:
        raise JsonInputError(problem)
    return value


# ---------------------------------------------------------------------------- lone surrogates in files

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LOW_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
SURROGATE_SCAN_CHUNK = 1024 * 1024  # ~1 ms of regex per chunk without escapes (80 MB: 0.07 s)
_SCAN_OVERLAP = 64  # keeps an escape pair and the backslashes before it whole across chunks


@dataclass(frozen=True)
class LoneSurrogate:
    """Where a file's JSON text escapes half of a UTF-16 surrogate pair, and a sentence saying so."""

    escape: str
    byte: int
    line: int
    column: int

    @property
    def message(self) -> str:
        return (f"not valid JSON text: {self.escape} at line {self.line:,}, column {self.column:,} "
                f"(byte {self.byte:,}) is half of a UTF-16 surrogate pair, which is not a character "
                "(write the character itself, or both halves of the pair)")


def lone_surrogate_find(fileobj: BinaryIO) -> LoneSurrogate | None:
    """The first lone surrogate escape (``"\\ud800"``) in a JSON file, read from its current position.

    Files are streamed with yajl, which reads such a string value as "?" (and cannot read on past it
    in a key): the entry would change without a word, and the raw bytes are the only place it can
    still be seen. Surrogate escapes are rare (only characters beyond the BMP, such as emoji, written
    with ``ensure_ascii``), so the regex's literal prefix keeps this pass cheap.
    """
    origin = offset = fileobj.tell()
    carry = b""
    while True:
        chunk = fileobj.read(SURROGATE_SCAN_CHUNK)
        if not isinstance(chunk, bytes):
            raise TypeError("JSON files must be opened in binary mode")
        data, start, final = carry + chunk, offset - len(carry), not chunk
        for match in _SURROGATE_ESCAPE.finditer(data):
            position = match.start()
            if not final and position + 12 > len(data):
                continue  # its other half may be in the next chunk: judged then (it is in the carry)
            if _is_lone_surrogate(data, position):
                return _located(fileobj, origin, match.group().decode(), start + position)
        if final:
            return None
        offset += len(chunk)
        carry = data[-_SCAN_OVERLAP:]


def _is_lone_surrogate(data: bytes, position: int) -> bool:
    """Whether the surrogate escape at ``position`` has no other half beside it."""
    before = data[max(0, position - _SCAN_OVERLAP):position]
    if (len(before) - len(before.rstrip(b"\\"))) % 2:
        return False  # an escaped backslash followed by "ud800": text, not an escape
    if not _LOW_SURROGATE_ESCAPE.fullmatch(data, position, position + 6):  # a high half: a low one follows
        return _LOW_SURROGATE_ESCAPE.match(data, position + 6) is None
    previous = data[position - 6:position] if position >= 6 else b""  # a low half: a high one precedes
    return not (_SURROGATE_ESCAPE.fullmatch(previous) and not _LOW_SURROGATE_ESCAPE.fullmatch(previous))


def _located(fileobj: BinaryIO, origin: int, escape: str, byte: int) -> LoneSurrogate:
    """Line and column of ``byte``, read again from ``origin``: only for the error message."""
    fileobj.seek(origin)
    before = fileobj.read(byte - origin)
    return LoneSurrogate(escape=escape, byte=byte - origin, line=before.count(b"\n") + 1,
                         column=len(before) - (before.rfind(b"\n") + 1) + 1)
