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
from decimal import Decimal
from typing import Any

# Deeper than any metadata, registration or Encord body has a use for; far below the decoder's
# recursion limit and PostgreSQL's stack depth for jsonb.
MAX_DEPTH = 64
# A JSON number must fit a double for any client to read it back (a larger integer is ``Infinity`` in
# JavaScript, an OverflowError when a service converts it to float): 309 digits is already past 1.8e308.
MAX_INT_DIGITS = 309
_INT_LIMIT = 10**MAX_INT_DIGITS


class JsonInputError(ValueError):
    """JSON that cannot be accepted; ``str()`` says what and where (a JSONPath such as ``$.a[2]``)."""


class _HugeInt(int):
    """An integer literal over ``MAX_INT_DIGITS`` digits, kept as its digit count (never converted)."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    return _HugeInt(digits) if digits > MAX_INT_DIGITS else int(text)


def _path_key(path: str, key: str) -> str:
    return f"{path}.{key}" if key.isidentifier() else f"{path}[{json.dumps(key, ensure_ascii=True)}]"


def _short(path: str) -> str:
    return path if len(path) <= 80 else path[:80] + "…"


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate ({ascii(text[exc.start])[1:-1]}), which is not valid Unicode"
    return None


def json_value_problem(value: Any, *, max_depth: int = MAX_DEPTH, root: str = "$") -> str | None:
    """What makes ``value`` (decoded JSON) unstorable, with its path, or None if nothing does.

    Walks iteratively, so a deep value costs no recursion. Strings and keys must be valid Unicode
    without NUL; numbers finite and at most ``MAX_INT_DIGITS`` digits; nesting at most ``max_depth``.
    """
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= max_depth:
                return f"at {_short(path)}: nested deeper than {max_depth} levels"
            if isinstance(node, dict):
                for key, child in node.items():
                    if not isinstance(key, str):  # only from other parsers; JSON keys are strings
                        continue
                    problem = _string_problem(key)
                    if problem:
                        return f"at {path}: a key {problem}"
                    stack.append((child, _path_key(path, key), depth + 1))
            else:
                stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(node))
        elif isinstance(node, str):
            problem = _string_problem(node)
            if problem:
                return f"at {path}: the string {problem}"
        elif isinstance(node, _HugeInt):
            return f"at {path}: an integer of {int(node)} digits is out of range (at most {MAX_INT_DIGITS})"
        elif isinstance(node, float | Decimal) and not math.isfinite(node):
            return f"at {path}: {node} is not a finite number (NaN, Infinity and overflows like 1e999 are refused)"
        elif isinstance(node, int) and abs(node) >= _INT_LIMIT:  # from other parsers (ijson's exact numbers)
            return f"at {path}: an integer of more than {MAX_INT_DIGITS} digits is out of range"
    return None


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
