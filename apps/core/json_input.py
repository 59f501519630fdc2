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
# Keeps an escape pair and the backslashes before it, and a 200-digit number, whole across chunks.
_SCAN_OVERLAP = 256


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
    return json_text_screen(fileobj, values=False).lone_surrogate


@dataclass(frozen=True)
class TextScreen:
    """What one pass over a JSON file's raw bytes found.

    ``values_suspect`` is False only when no value in the file can be one ``json_value_problem``
    refuses: a NUL, NaN/Infinity or a number past a double or ``MAX_INT_DIGITS`` each need text that
    shows in the bytes, and nesting past ``MAX_DEPTH`` shows in the brackets outside strings. The
    entries of such a file skip ``json_value_problem_pointer``, a Python visit per value that cost
    about 40% of an import's entry pass.
    """

    lone_surrogate: LoneSurrogate | None
    values_suspect: bool


def _number_class(byte: int) -> int:
    char = chr(byte)
    if char.isdigit() or char == ".":
        return ord("0")
    if char in "eE":
        return ord("e")
    if char in "+-":
        return ord("+")
    if char.isalnum() or char in '_"' or byte >= 128:
        return ord("a")
    return ord(" ")


# Numbers seen through a byte map (digits and "." as 0, "e", signs as "+", word characters and quotes
# as "a"), so C-speed searches can find them: 200 digits in a row (a float of 200 digits overflows
# with any two-digit exponent: 1e99 is the most a shorter mantissa can carry), or a three-digit
# exponent ending the token (``1e400``; "7e237" inside a UUID is followed by a word character or a
# quote, so it does not count).
_NUMBER_CLASSES = bytes(_number_class(byte) for byte in range(256))
_LONG_DIGITS = b"0" * 200
_BIG_EXPONENT = re.compile(rb"0e\+?0{3,}(?=[^0a+e])")  # what follows must be seen: it may be in the next chunk
# The structure of JSON text: quotes and brackets ("(" and ")"), once escaped backslashes and quotes
# are gone (a backslash only ever appears inside a string, and escapes the byte after it).
_STRUCTURE = bytes.maketrans(b"{[}]", b"(())")
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"{}[]')
_STRING = re.compile(rb'"[^"]*"')


def _values_suspect(data: bytes) -> bool:
    if b"\x00" in data or b"NaN" in data or b"Infinity" in data or (b"\\" in data and b"\\u0000" in data):
        return True
    classes = data.translate(_NUMBER_CLASSES)
    return _LONG_DIGITS in classes or _BIG_EXPONENT.search(classes) is not None


def _structure(data: bytes) -> bytes:
    """``data``'s quotes and brackets, empty strings dropped; ``data`` must not cut a backslash escape.

    Dropping two adjacent quotes keeps every other quote's parity: they are an empty string, or the
    end and start of two strings with nothing structural between them."""
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return data.translate(_STRUCTURE, _NOT_STRUCTURE).replace(b'""', b"")


def _nested_deeper_than(structure: bytes, max_depth: int) -> bool:
    """Whether the brackets outside strings nest deeper than ``max_depth`` (or do not balance):
    each pass drops the innermost pairs, so a text nested d deep empties in d passes."""
    brackets = _STRING.sub(b"", structure)
    for _ in range(max_depth):
        if not brackets:
            return False
        shorter = brackets.replace(b"()", b"")
        if len(shorter) == len(brackets):
            return True
        brackets = shorter
    return bool(brackets)


def json_text_screen(fileobj: BinaryIO, *, values: bool = True) -> TextScreen:
    """One pass over a JSON file from its current position (left at the end): its first lone
    surrogate escape and whether any value may be unstorable (see ``TextScreen``). About 0.3 s for
    50 MB, against the walk's 2 s. ``values=False`` looks for lone surrogates alone
    (``values_suspect`` is then True)."""
    origin = offset = fileobj.tell()
    carry, pending, suspect, structure = b"", b"", not values, []
    while True:
        chunk = fileobj.read(SURROGATE_SCAN_CHUNK)
        if not isinstance(chunk, bytes):
            raise TypeError("JSON files must be opened in binary mode")
        data, start, final = carry + chunk, offset - len(carry), not chunk
        if not suspect:
            suspect = _values_suspect(data)
            piece = pending + chunk  # trailing backslashes wait for the byte they escape
            kept = len(piece) if final else len(piece.rstrip(b"\\"))
            structure.append(_structure(piece[:kept]))
            pending = piece[kept:]
        for match in _SURROGATE_ESCAPE.finditer(data):
            position = match.start()
            if not final and position + 12 > len(data):
                continue  # its other half may be in the next chunk: judged then (it is in the carry)
            if _is_lone_surrogate(data, position):
                return TextScreen(_located(fileobj, origin, match.group().decode(), start + position), True)
        if final:
            return TextScreen(None, suspect or _nested_deeper_than(b"".join(structure), MAX_DEPTH))
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
