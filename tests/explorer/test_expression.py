"""The written expression parses to the same tree as the JSON filter; errors say where and what."""

from __future__ import annotations

import pytest

from apps.core.errors import ServiceValidationError
from apps.explorer.expression import Unwritable, expression_from_tree, parse_expression
from apps.explorer.filters import And, Leaf, Not, Or, filter_from_json


def _leaf(name, op, value=None, position=None, target="key"):
    return Leaf(target, name, op, value, "q", position)


def test_the_issue_example_parses_to_and_of_three():
    tree = parse_expression('camera in ("cam3","cam4") and score > 0.8 and not night')
    assert tree == And((
        _leaf("camera", "in", ["cam3", "cam4"], 0),
        _leaf("score", "gt", 0.8, 30),
        Not(_leaf("night", "eq", True, 50), path="q"),
    ), path="q")


@pytest.mark.parametrize(("text", "op", "value"), [
    ("k = 'a'", "eq", "a"), ("k == \"a\"", "eq", "a"), ("k != 3", "ne", 3), ("k < -1.5", "lt", -1.5),
    ("k <= 2e3", "lte", 2000.0), ("k > 0", "gt", 0), ("k >= .5", "gte", 0.5), ("k = true", "eq", True),
    ("k = false", "eq", False), ("k between 1 and 2", "between", [1, 2]), ("k in (1, 'x', true)", "in", [1, "x", True]),
    ("k prefix \"ab\"", "prefix", "ab"), ("k contains 'x\\'y'", "contains", "x'y"),
    ("k within [[1, 2], [3, 4]]", "within", [[1, 2], [3, 4]]), ("k exists", "exists", None),
    ("k missing", "missing", None), ("k", "eq", True), ('k = "caf\\u00e9"', "eq", "café"),
])
def test_each_operator_form(text, op, value):
    assert parse_expression(text) == _leaf("k", op, value, 0)


def test_quoted_keys_and_builtin_fields():
    assert parse_expression("`camera angle` = 'wide'") == _leaf("camera angle", "eq", "wide", 0)
    assert parse_expression("$created >= '2026-11-01'") == _leaf("created", "gte", "2026-11-01", 0, "field")
    assert parse_expression("site.zone-2 = 'x'") == _leaf("site.zone-2", "eq", "x", 0)


def test_and_binds_tighter_than_or_and_not_tighter_than_and():
    a, b, c = (_leaf(n, "eq", True, p) for n, p in (("a", 0), ("b", 6), ("c", 15)))
    assert parse_expression("a and b or not c") == Or((And((a, b), path="q"), Not(c, path="q")), path="q")
    b2, c2 = _leaf("b", "eq", True, 7), _leaf("c", "eq", True, 12)
    assert parse_expression("a and (b or c)") == And((a, Or((b2, c2), path="q")), path="q")
    assert parse_expression("not (a or b)") == Not(Or((_leaf("a", "eq", True, 5), _leaf("b", "eq", True, 10)),
                                                      path="q"), path="q")


def test_the_expression_and_the_json_tree_agree_on_shape():
    written = parse_expression("camera = 'cam3' or not score > 1")
    tree = filter_from_json({"or": [{"key": "camera", "op": "eq", "value": "cam3"},
                                    {"not": {"key": "score", "op": "gt", "value": 1}}]})
    strip = lambda node: repr(node).replace("path='q', ", "").replace("path='q'", "")  # noqa: E731
    assert type(written) is type(tree) and len(written.children) == len(tree.children)
    assert [(c.name, c.op, c.value) for c in (written.children[0], written.children[1].child)] == \
        [(c.name, c.op, c.value) for c in (tree.children[0], tree.children[1].child)]
    assert strip(written)  # both print


@pytest.mark.parametrize(("text", "message"), [
    ("", "At position 0: expected a condition, found an empty expression."),
    ("score >", 'At position 7: expected a value (a "string", a number, true, false or [list]), found the end of the expression.'),
    ("score > 1 and", 'At position 13: expected a key name, a `quoted key`, a $field, "not" or "(", found the end of the expression.'),
    ("(a or b", 'At position 7: expected a closing ")", found the end of the expression.'),
    ("a b", 'At position 2: expected "and", "or" or the end, found "b".'),
    ("k in 1", 'At position 5: expected "(" opening the list of values, found "1".'),
    ("k in (1 2)", 'At position 8: expected "," or ")" closing the list of values, found "2".'),
    ("k between 1 or 2", 'At position 12: expected "and" between the two bounds, found "or".'),
    ("k = 'abc", "At position 4: expected the closing ' of the quoted text that starts here."),
    ("k = #", "At position 4: unexpected character '#'."),
    ("k ~ 1", "At position 2: unexpected character '~'."),
    ("$nope = 1", 'At position 0: unknown built-in field "nope": one of type, folder, name, status, created, '
                  "file_size, width, height, duration, fps, duplicate."),
    ("k prefix ''", 'At position 0: "prefix" takes a non-empty string.'),
    ("k = 1e999", "At position 4: the number 1e999 is too large."),
    ("k = '\\u0000'", "At position 4: a string cannot hold a NUL character or a lone surrogate."),
])
def test_errors_carry_the_position_and_what_was_expected(text, message):
    with pytest.raises(ServiceValidationError) as error:
        parse_expression(text)
    assert error.value.message_dict == {"q": [message]}


def test_nesting_is_bounded():
    with pytest.raises(ServiceValidationError) as error:
        parse_expression("(" * 100 + "a" + ")" * 100)
    assert "nested at most 32 deep" in error.value.message_dict["q"][0]


def _shape(node):
    """A node without where it came from (path, position): what a round trip must keep."""
    if isinstance(node, Leaf):
        return ("leaf", node.target, node.name, node.op, repr(node.value))
    if isinstance(node, Not):
        return ("not", _shape(node.child))
    return (type(node).__name__, tuple(_shape(child) for child in node.children))


ROUND_TRIPS = [
    {"key": "camera", "op": "eq", "value": "cam3"},
    {"or": [{"key": "camera", "op": "eq", "value": "cam1"}, {"not": {"key": "score", "op": "gt", "value": 0.5}}]},
    {"and": [{"or": [{"key": "a", "op": "exists"}, {"key": "b", "op": "missing"}]},
             {"not": {"and": [{"key": "c", "op": "lte", "value": -1e-07}, {"key": "d", "op": "ne", "value": False}]}}]},
    {"or": [{"and": [{"key": "a", "op": "eq", "value": True}, {"key": "b", "op": "lt", "value": 3}]},
            {"key": "c", "op": "gte", "value": 12345678901234567890}]},
    {"not": {"not": {"key": "n", "op": "eq", "value": 1.5}}},
    {"key": "site zone.2", "op": "in", "value": ["x", 'quote " and \\ back', "ünï\U0001f600", 7, True]},
    {"key": "and", "op": "between", "value": ["2026-01-01", "2026-02-01T00:00:00+02:00"]},
    {"field": "name", "op": "prefix", "value": "frame-0"},
    {"field": "file_size", "op": "between", "value": [10, 2000000]},
    {"key": "where", "op": "within", "value": [[-10.5, 40], [3, 52.25]]},
    {"key": "tags", "op": "eq", "value": ["a", ["b", 1]]},
    {"key": "caption", "op": "contains", "value": "it's a\nnew line"},
]


@pytest.mark.parametrize("tree", ROUND_TRIPS)
def test_a_tree_written_reads_back_as_the_same_tree(tree):
    text = expression_from_tree(tree)

    assert _shape(parse_expression(text)) == _shape(filter_from_json(tree))


def test_the_written_form_is_what_a_person_would_write():
    assert expression_from_tree(ROUND_TRIPS[1]) == 'camera = "cam1" or not score > 0.5'
    assert expression_from_tree(ROUND_TRIPS[2]) == "(a exists or b missing) and not (c <= -1e-07 and d != false)"
    assert expression_from_tree(ROUND_TRIPS[3]) == "a = true and b < 3 or c >= 12345678901234567890"


@pytest.mark.parametrize("tree", [
    {"key": "k", "op": "eq", "value": None},
    {"key": "k", "op": "eq", "value": {"a": 1}},
    {"key": "a`b", "op": "exists"},
    {"and": []},
    {"xor": [1]},
])
def test_what_has_no_written_form_is_refused(tree):
    with pytest.raises(Unwritable):
        expression_from_tree(tree)
