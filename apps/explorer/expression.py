"""The written filter expression: ``camera in ("cam3", "cam4") and score > 0.8 and not night``.

A small tokenizer and a recursive-descent parser producing the same tree as the JSON filter
(``apps.explorer.filters``); the grammar is in the README ("Explorer query API"). Every error says
where (0-based character position) and what was expected there, keyed ``q``:

    expression := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expression ")" | condition
    condition  := target OP value | target "in" "(" value ("," value)* ")"
                | target "between" value "and" value | target ("prefix" | "contains") string
                | target "within" box | target ("exists" | "missing") | target        (key = true)
    target     := name | `any key name` | $builtin
    value      := "string" | 'string' | number | true | false | [value, ...]
    OP         := = | == | != | < | <= | > | >=
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from apps.explorer.filters import MAX_DEPTH, MAX_NODES, And, Leaf, Node, Not, Or, leaf, refuse

MAX_LENGTH = 10_000  # characters of one expression
KEYWORDS = ("and", "or", "not", "in", "between", "prefix", "contains", "within", "exists", "missing",
            "true", "false")
SYMBOL_OPS = {"=": "eq", "==": "eq", "!=": "ne", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
WORD_OPS = ("in", "between", "prefix", "contains", "within", "exists", "missing")

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)
  | (?P<field>\$[A-Za-z_][A-Za-z0-9_]*)
  | (?P<quoted>`[^`]*`)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<symbol><=|>=|==|!=|[=<>(),\[\]])
""", re.VERBOSE)


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, field, quoted, string, symbol, keyword, end
    text: str
    position: int


def _fail(position: int, message: str):
    refuse("q", f"At position {position}: {message}")


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an ``end`` token; an unknown character is refused where it is."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] in "\"'`":
                _fail(position, f"expected the closing {text[position]} of the quoted text that starts here.")
            _fail(position, f"unexpected character {text[position]!r}.")
        kind = match.lastgroup
        if kind != "space":
            word = match.group()
            if kind == "name" and word in KEYWORDS:
                kind = "keyword"
            tokens.append(Token(kind, word, position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def parse_expression(text: str) -> Node:
    """The filter tree ``text`` writes; ``ServiceValidationError({"q": "At position N: expected ..."})``."""
    if not isinstance(text, str):
        refuse("q", "A written expression is a string.")
    if len(text) > MAX_LENGTH:
        refuse("q", f"A written expression has at most {MAX_LENGTH} characters.")
    parser = _Parser(tokenize(text))
    if parser.peek().kind == "end":
        _fail(0, "expected a condition, found an empty expression.")
    tree = parser.expression(0)
    end = parser.peek()
    if end.kind != "end":
        _fail(end.position, f'expected "and", "or" or the end, found {_describe(end)}.')
    return tree


def _describe(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else f'"{token.text}"'


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens, self.index, self.nodes = tokens, 0, 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def accept(self, kind: str, text: str) -> Token | None:
        token = self.peek()
        if token.kind == kind and token.text == text:
            return self.take()
        return None

    def expect(self, kind: str, text: str, what: str) -> Token:
        token = self.accept(kind, text)
        if token is None:
            _fail(self.peek().position, f"expected {what}, found {_describe(self.peek())}.")
        return token

    def _count(self, position: int, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            _fail(position, f"an expression has at most {MAX_NODES} conditions and groups, nested at most "
                            f"{MAX_DEPTH} deep.")

    def expression(self, depth: int) -> Node:
        return self._chain(depth, "or", Or, self._and)

    def _and(self, depth: int) -> Node:
        return self._chain(depth, "and", And, self.unary)

    def _chain(self, depth: int, word: str, group, operand) -> Node:
        first = self.peek()
        parts = [operand(depth + 1)]
        while self.accept("keyword", word):
            parts.append(operand(depth + 1))
        if len(parts) == 1:
            return parts[0]
        self._count(first.position, depth)
        return group(tuple(parts), path="q")

    def unary(self, depth: int) -> Node:
        token = self.peek()
        self._count(token.position, depth)
        if self.accept("keyword", "not"):
            return Not(self.unary(depth + 1), path="q")
        if self.accept("symbol", "("):
            inner = self.expression(depth + 1)
            self.expect("symbol", ")", 'a closing ")"')
            return inner
        return self.condition()

    def condition(self) -> Leaf:
        start = self.peek()
        target, name = self.target()
        token = self.peek()
        position = start.position
        if token.kind == "symbol" and token.text in SYMBOL_OPS:
            self.take()
            return leaf(target, name, SYMBOL_OPS[token.text], self.value(), path="q", position=position)
        if token.kind == "keyword" and token.text in WORD_OPS:
            self.take()
            op = token.text
            if op in ("exists", "missing"):
                return leaf(target, name, op, None, path="q", has_value=False, position=position)
            if op == "in":
                return leaf(target, name, op, self.in_list(), path="q", position=position)
            if op == "between":
                low = self.value()
                self.expect("keyword", "and", '"and" between the two bounds')
                return leaf(target, name, op, [low, self.value()], path="q", position=position)
            return leaf(target, name, op, self.value(), path="q", position=position)
        # A bare key is a boolean test: `night` is `night = true`.
        return leaf(target, name, "eq", True, path="q", position=position)

    def target(self) -> tuple[str, str]:
        token = self.take()
        if token.kind == "name":
            return "key", token.text
        if token.kind == "quoted":
            return "key", token.text[1:-1]
        if token.kind == "field":
            return "field", token.text[1:]
        _fail(token.position, f"expected a key name, a `quoted key`, a $field, \"not\" or \"(\", found "
                              f"{_describe(token)}.")

    def in_list(self) -> list:
        self.expect("symbol", "(", '"(" opening the list of values')
        values = [self.value()]
        while self.accept("symbol", ","):
            values.append(self.value())
        self.expect("symbol", ")", '"," or ")" closing the list of values')
        return values

    def value(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return _unquote(token)
        if token.kind == "number":
            number = float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
            if isinstance(number, float) and number in (float("inf"), float("-inf")):
                _fail(token.position, f"the number {token.text} is too large.")
            return number
        if token.kind == "keyword" and token.text in ("true", "false"):
            return token.text == "true"
        if token.kind == "symbol" and token.text == "[":
            items = [] if self.accept("symbol", "]") else self._list_items()
            return items
        _fail(token.position, f"expected a value (a \"string\", a number, true, false or [list]), found "
                              f"{_describe(token)}.")

    def _list_items(self) -> list:
        items = [self.value()]
        while self.accept("symbol", ","):
            items.append(self.value())
        self.expect("symbol", "]", '"," or "]"')
        return items


def _unquote(token: Token) -> str:
    body = token.text[1:-1]
    if token.text[0] == "'":  # the same escapes as JSON, in single quotes
        body = body.replace("\\'", "'").replace('"', '\\"')
    try:
        text = json.loads(f'"{body}"')
    except ValueError:
        _fail(token.position, "expected a string with JSON escapes (\\\" \\\\ \\n \\uXXXX).")
    if "\x00" in text or any("\ud800" <= c <= "\udfff" for c in text):
        _fail(token.position, "a string cannot hold a NUL character or a lone surrogate.")
    return text


class Unwritable(ValueError):
    """A filter tree holds a value the written expression has no syntax for (JSON null, an object)."""


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_SYMBOL_OF = {op: symbol for symbol, op in SYMBOL_OPS.items() if symbol != "=="}


def expression_from_tree(tree: dict) -> str:
    """The written expression of a JSON filter tree (``filters.filter_from_json``'s input), which
    ``parse_expression`` reads back as the same tree: how the page shows a saved view whose filter no
    sidebar control can (an ``or``, a ``not``, an operator without a control). Raises ``Unwritable``."""
    return _written(tree, parent="or")


def _written(node: Any, *, parent: str) -> str:
    if isinstance(node, dict) and len(node) == 1 and ("and" in node or "or" in node):
        word = "and" if "and" in node else "or"
        children = node[word]
        if not isinstance(children, list) or not children:
            raise Unwritable(f'"{word}" holds a list of conditions.')
        text = f" {word} ".join(_written(child, parent=word) for child in children)
        # "and" binds tighter than "or": only an "or" inside an "and" (or under "not") needs brackets.
        return f"({text})" if len(children) > 1 and (parent == "not" or (word == "or" and parent == "and")) else text
    if isinstance(node, dict) and set(node) == {"not"}:
        return "not " + _written(node["not"], parent="not")
    if isinstance(node, dict) and ("key" in node) != ("field" in node):
        return _leaf_written(node)
    raise Unwritable("Not a filter node.")


def _leaf_written(node: dict) -> str:
    if "field" in node:
        target = f"${node['field']}"
    else:
        name = node["key"]
        if not isinstance(name, str) or "`" in name:
            raise Unwritable(f"No written form for the key name {name!r}.")
        target = name if _PLAIN_NAME.match(name) and name not in KEYWORDS else f"`{name}`"
    op, value = node.get("op"), node.get("value")
    if op in ("exists", "missing"):
        return f"{target} {op}"
    if op in _SYMBOL_OF:
        return f"{target} {_SYMBOL_OF[op]} {_value_written(value)}"
    if op == "in" and isinstance(value, list):
        return f"{target} in ({', '.join(_value_written(v) for v in value)})"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{target} between {_value_written(value[0])} and {_value_written(value[1])}"
    if op in ("prefix", "contains", "within"):
        return f"{target} {op} {_value_written(value)}"
    raise Unwritable(f"No written form for the operator {op!r}.")


def _value_written(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value_written(v) for v in value) + "]"
    raise Unwritable(f"No written form for the value {value!r}.")
