"""``apps.core.json_input``: what outside JSON may hold, with the place named."""

from __future__ import annotations

import pytest

from apps.core.json_input import JsonInputError, json_loads, json_value_problem_pointer

REFUSED = {
    '{"a": "x\\u0000"}': "at $.a: the string contains a NUL character (\\u0000), which cannot be stored",
    '{"a\\u0000": 1}': "at $: a key contains a NUL character (\\u0000), which cannot be stored",
    '["\\ud800"]': "at $[0]: the string contains a lone surrogate (\\ud800), which is not valid Unicode",
    '{"a b": {"c": [1, "\\udfff"]}}': 'at $["a b"].c[1]: the string contains a lone surrogate (\\udfff), which is '
                                      "not valid Unicode",
    '{"x": 1e999}': "at $.x: inf is not a finite number (NaN, Infinity and overflows like 1e999 are refused)",
    '{"x": [1.5, -1e999]}': "at $.x[1]: -inf is not a finite number (NaN, Infinity and overflows like 1e999 are "
                            "refused)",
    "[NaN]": "at $[0]: nan is not a finite number (NaN, Infinity and overflows like 1e999 are refused)",
    '{"n": [' + "9" * 400 + "]}": "at $.n[0]: an integer of 400 digits is out of range (at most 309)",
    "[" * 5000 + "]" * 5000: "nested deeper than 64 levels",
    "[" * 65 + "]" * 65: "at $" + "[0]" * 26 + "[…: nested deeper than 64 levels",
    '{"a": 1,}': "Expecting property name enclosed in double quotes at line 1 column 9",
}


@pytest.mark.parametrize("text", list(REFUSED))
def test_unstorable_json_is_refused_with_the_place(text):
    with pytest.raises(JsonInputError) as refused:
        json_loads(text)
    assert str(refused.value) == REFUSED[text]


def test_storable_json_is_read_as_json_loads_reads_it():
    text = '{"ok": [1, 2.5, "\\ud83d\\ude00", true, null, [1e308, 1e308]], "big": ' + "9" * 309 + "}"
    assert json_loads(text.encode()) == {"ok": [1, 2.5, "😀", True, None, [1e308, 1e308]], "big": int("9" * 309)}
    assert json_loads("[" * 64 + "]" * 64) is not None
    with pytest.raises(JsonInputError, match="^not UTF-8 at byte 1$"):
        json_loads(b'"\xff"')


def test_values_from_other_parsers_get_a_json_pointer():
    assert json_value_problem_pointer({"clientMetadata": {"a/b": [1.0, float("inf")]}}) == (
        "/clientMetadata/a~1b/1", "inf is not a finite number (NaN, Infinity and overflows like 1e999 are refused)")
    assert json_value_problem_pointer({"e": [0.5] * 512, "n": 10**309}) == (
        "/n", "an integer of more than 309 digits is out of range")
    assert json_value_problem_pointer({"e": [0.5] * 512, "s": "fine"}) is None


def _drf_views():
    """Every DRF view class routed by Loupe's URLconf (REST, Encord routes, legacy RPC)."""
    from django.urls import get_resolver
    from rest_framework.views import APIView

    found, stack = set(), [get_resolver()]
    while stack:
        for entry in stack.pop().url_patterns:
            if hasattr(entry, "url_patterns"):
                stack.append(entry)
                continue
            view = getattr(entry.callback, "cls", None) or getattr(entry.callback, "view_class", None)
            if isinstance(view, type) and issubclass(view, APIView):
                found.add(view)
    return found


def test_every_api_view_reads_json_with_the_strict_parser():
    """A view that names its parsers must name StrictJSONParser for JSON: a plain JSONParser would let
    NUL, 1e999 and deep nesting through to the services again."""
    from rest_framework.parsers import JSONParser

    from apps.core.parsers import StrictJSONParser

    views = _drf_views()
    lax = sorted(f"{view.__module__}.{view.__qualname__}" for view in views for parser in view.parser_classes
                 if issubclass(parser, JSONParser) and not issubclass(parser, StrictJSONParser))

    assert len(views) > 40
    assert lax == []


@pytest.mark.parametrize(("text", "found"), [
    (b'{"a": "x\\ud800y"}', ("\\ud800", 8, 1, 9)),
    (b'{"a":\n "ok\\uD800\\u0041"}', ("\\uD800", 10, 2, 5)),
    (b'{"\\udc00": 1}', ("\\udc00", 2, 1, 3)),
    (b'["x\\ud83d"]', ("\\ud83d", 3, 1, 4)),
    (b'["\\\\\\ud800"]', ("\\ud800", 4, 1, 5)),  # an escaped backslash, then a lone escape
    (b'["\\ud83d\\ude00", "\\uDBFF\\uDFFF"]', None),  # pairs: emoji written with ensure_ascii
    (b'["\\\\ud800"]', None),  # an escaped backslash followed by the text "ud800"
    (b'["plain"]', None),
])
@pytest.mark.parametrize("chunk", [7, 1024 * 1024])
def test_lone_surrogate_escapes_in_a_file_are_found_with_their_place(monkeypatch, text, found, chunk):
    """Files are read with yajl, which would store a lone surrogate as "?": the raw text is checked
    first, in chunks (7 bytes cuts pairs and backslash runs across chunks)."""
    import io

    from apps.core import json_input

    monkeypatch.setattr(json_input, "SURROGATE_SCAN_CHUNK", chunk)
    lone = json_input.lone_surrogate_find(io.BytesIO(text))
    assert (lone and (lone.escape, lone.byte, lone.line, lone.column)) == found


@pytest.mark.parametrize(("text", "suspect"), [
    (b'{"a": [{"b": "x\\"]]]]"}], "id": "123e4567-e89b-12d3-a456-426614174000", "n": 1e40}', False),
    (b'{"a": 1e400}', True),
    (b'{"a": [1E+400]}', True),
    (b'{"a": "\\u0000"}', True),
    (b'{"a": NaN}', True),
    (b'{"a": -Infinity}', True),
    (b'{"a": ' + b"9" * 200 + b"}", True),  # a float of 200 digits overflows with e99
    (b'{"a": ' + b"9" * 150 + b"}", False),
    (b"[" * 64 + b"]" * 64, False),
    (b"[" * 65 + b"]" * 65, True),
    # closing brackets inside a string cannot hide nesting outside it
    (b'{"a": "' + b"]" * 100 + b'", "b": ' + b"[" * 70 + b"]" * 70 + b"}", True),
    # escaped backslashes and quotes: the string ends where JSON says it does
    (b'{"a": "\\\\", "b": ' + b"[" * 62 + b"]" * 62 + b"}", False),
    (b'{"a": "\\\\\\"' + b"[" * 80 + b'"}', False),
    (b'{"a": "' + b"[" * 80 + b'", "b": "", "c": ["x", ""]}', False),
])
@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1024 * 1024])
def test_the_text_screen_finds_every_file_that_may_hold_an_unstorable_value(monkeypatch, text, suspect, chunk):
    """Import and metadata-job entries skip the per-value walk when the raw text is clean: every
    refused value must therefore show in the bytes, whatever the chunking cuts."""
    import io

    from apps.core import json_input

    monkeypatch.setattr(json_input, "SURROGATE_SCAN_CHUNK", chunk)
    assert json_input.json_text_screen(io.BytesIO(text)).values_suspect is suspect
