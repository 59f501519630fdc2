"""The typed filter tree: what a filter *is*, whichever door it came through.

A filter is ``{"and": [...]}``, ``{"or": [...]}``, ``{"not": {...}}`` or a leaf ``{"key": <metadata key>,
"op": ..., "value": ...}`` / ``{"field": <built-in>, "op": ..., "value": ...}`` / a lasso on an embedding
key's 2-D projection ``{"projection": {"key": <embedding key>, "polygon": [[x, y], ...]}}``. The JSON body of the REST
API is read by ``filter_from_json``; the written expression (``apps.explorer.expression``) parses to the
same dataclasses. Every node carries its ``path`` (``filter.and[1].not``) so an error names the leaf.

This module checks the *shape* (node kinds, operator names, value shapes that do not depend on a type,
built-in field names); ``apps.explorer.compiler`` checks each leaf against its key's schema type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from apps.core.errors import ServiceValidationError
from apps.metadata.validation import key_name_error

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "prefix", "contains", "exists", "missing", "within")
VALUELESS_OPS = ("exists", "missing")
MAX_NODES = 200  # leaves and groups in one filter: a UI builds a few dozen; more is a mistake or an attack
MAX_DEPTH = 32
MAX_IN_VALUES = 1000  # values of one ``in`` leaf: beyond that, a collection is the tool
POLYGON_MIN, POLYGON_MAX = 3, 1000  # vertices of a lasso: a drawn lasso is simplified well below the bound


@dataclass(frozen=True)
class Builtin:
    """A built-in field: the Item column it reads and the schema type it behaves as."""

    column: str
    type: str
    nullable: bool = False
    choices: tuple[str, ...] = ()
    # A derived boolean (an app above registers it): SQL true or false for the item whose ``column``
    # is ``{c}``, never NULL. It takes eq/ne true|false; it is not a table column.
    expression: str = ""


_REGISTERED: dict[str, Builtin] = {}


def builtin_register(name: str, field: Builtin) -> None:
    """Add a derived built-in field (an app's ``AppConfig.ready``: e.g. similarity's ``duplicate``)."""
    _REGISTERED[name] = field


def _builtins() -> dict[str, Builtin]:
    from apps.storage.models import ItemStatus, ItemType

    number = "number"
    return {
        "type": Builtin("item_type", "enum", choices=tuple(ItemType.values)),
        "folder": Builtin("folder_id", "uuid"),
        "name": Builtin("name", "varchar"),
        "status": Builtin("status", "enum", choices=tuple(ItemStatus.values)),
        "created": Builtin("created_at", "datetime"),
        "file_size": Builtin("file_size", number, nullable=True),
        "width": Builtin("width", number, nullable=True),
        "height": Builtin("height", number, nullable=True),
        "duration": Builtin("duration", number, nullable=True),
        "fps": Builtin("fps", number, nullable=True),
        **_REGISTERED,
    }


BUILTIN_NAMES = ("type", "folder", "name", "status", "created", "file_size", "width", "height", "duration", "fps")


def builtin_names() -> tuple[str, ...]:
    """Every built-in field a filter may name: the columns, then the registered derived fields."""
    return BUILTIN_NAMES + tuple(_REGISTERED)


def builtin(name: str) -> Builtin | None:
    """The built-in field called ``name``, or None."""
    return _builtins().get(name) if isinstance(name, str) else None


@dataclass(frozen=True)
class Leaf:
    """One comparison. ``target`` is ``"key"`` (client metadata), ``"field"`` (a built-in column) or
    ``"projection"`` (op ``"lasso"``: ``name`` the embedding key, ``value`` the polygon as float pairs)."""

    target: str
    name: str
    op: str
    value: Any = None
    path: str = "filter"
    position: int | None = None  # where the leaf starts in a written expression (0-based)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]
    path: str = "filter"


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]
    path: str = "filter"


@dataclass(frozen=True)
class Not:
    child: Node
    path: str = "filter"


Node = Union[And, Or, Not, Leaf]


def refuse(path: str, message: str):
    """Raise the field-keyed 400 every filter error is: ``{"filter.and[1]": ["..."]}``."""
    raise ServiceValidationError({path: message})


def refuse_at(leaf: Leaf, message: str):
    """Refuse one leaf: keyed by its path, and for a written expression saying where the leaf starts."""
    if leaf.position is not None:
        message = f"At position {leaf.position}: {message[0].lower()}{message[1:]}"
    refuse(leaf.path, message)


def filter_from_json(data: Any, *, path: str = "filter") -> Node:
    """The tree a JSON filter describes; ``ServiceValidationError`` keyed by the offending node's path."""
    counter = [0]
    return _node(data, path, 0, counter)


def _node(data: Any, path: str, depth: int, counter: list[int]) -> Node:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        refuse(path, f"A filter has at most {MAX_NODES} nodes.")
    if depth > MAX_DEPTH:
        refuse(path, f"A filter nests at most {MAX_DEPTH} levels.")
    if not isinstance(data, dict):
        refuse(path, 'Expected an object: {"and": [...]}, {"or": [...]}, {"not": {...}} or a leaf '
                     '{"key"|"field": ..., "op": ..., "value": ...}.')
    groups = [kind for kind in ("and", "or", "not") if kind in data]
    if groups:
        kind = groups[0]
        if len(data) != 1:
            refuse(path, f'A "{kind}" node holds only "{kind}"; found {", ".join(sorted(data))}.')
        if kind == "not":
            return Not(_node(data["not"], f"{path}.not", depth + 1, counter), path=path)
        children = data[kind]
        if not isinstance(children, list) or not children:
            refuse(f"{path}.{kind}", f'"{kind}" takes a non-empty list of filters.')
        nodes = tuple(_node(child, f"{path}.{kind}[{i}]", depth + 1, counter) for i, child in enumerate(children))
        return And(nodes, path=path) if kind == "and" else Or(nodes, path=path)
    return _leaf(data, path)


def _leaf(data: dict, path: str) -> Leaf:
    if "projection" in data:
        return _projection_leaf(data, path)
    targets = [name for name in ("key", "field") if name in data]
    if len(targets) != 1:
        refuse(path, 'A leaf names exactly one of "key" (a metadata key) or "field" (a built-in field).')
    target = targets[0]
    extra = set(data) - {target, "op", "value"}
    if extra:
        refuse(path, f'Unknown member(s) {", ".join(sorted(extra))}: a leaf holds "{target}", "op" and "value".')
    return leaf(target, data[target], data.get("op"), data.get("value"), path=path, has_value="value" in data)


def leaf(target: str, name: Any, op: Any, value: Any, *, path: str, has_value: bool = True,
         position: int | None = None) -> Leaf:
    """A checked leaf: a known built-in or a valid key name, a known operator and a value of its shape."""
    def fail(message: str):
        refuse_at(Leaf(target, str(name), str(op), None, path, position), message)

    if target == "field":
        if builtin(name) is None:
            fail(f"Unknown built-in field {_show(name)}: one of {', '.join(builtin_names())}.")
    else:
        problem = key_name_error(name)
        if problem:
            fail(f"Not a metadata key name: {problem}")
    if op not in OPS:
        fail(f"Unknown operator {_show(op)}: one of {', '.join(OPS)}.")
    if op in VALUELESS_OPS:
        if has_value and value is not None:
            fail(f'"{op}" takes no value.')
        return Leaf(target, name, op, None, path, position)
    if not has_value:
        fail(f'"{op}" needs a "value".')
    if op == "between" and not (isinstance(value, list) and len(value) == 2):
        fail('"between" takes a list [low, high] (both inclusive).')
    if op == "in" and not (isinstance(value, list) and 1 <= len(value) <= MAX_IN_VALUES):
        fail(f'"in" takes a list of 1 to {MAX_IN_VALUES} values.')
    if op == "within" and not _is_box(value):
        fail('"within" takes a box [[lon_min, lat_min], [lon_max, lat_max]].')
    if op in ("prefix", "contains") and not (isinstance(value, str) and value):
        fail(f'"{op}" takes a non-empty string.')
    return Leaf(target, name, op, value, path, position)


def _projection_leaf(data: dict, path: str) -> Leaf:
    """``{"projection": {"key": ..., "polygon": [[x, y], ...]}}``: 3 to 1,000 finite vertices."""
    if len(data) != 1:
        refuse(path, f'A lasso leaf holds only "projection"; found {", ".join(sorted(data))}.')
    body, where = data["projection"], f"{path}.projection"
    if not isinstance(body, dict) or set(body) != {"key", "polygon"}:
        refuse(where, '"projection" takes {"key": <embedding key>, "polygon": [[x, y], ...]}.')
    problem = key_name_error(body["key"])
    if problem:
        refuse(f"{where}.key", f"Not a metadata key name: {problem}")
    polygon = body["polygon"]
    if not isinstance(polygon, list) or not POLYGON_MIN <= len(polygon) <= POLYGON_MAX:
        refuse(f"{where}.polygon", f"A polygon is a list of {POLYGON_MIN} to {POLYGON_MAX} points [x, y].")
    points = []
    for index, point in enumerate(polygon):
        if not (isinstance(point, list) and len(point) == 2 and all(map(_finite, point))):
            refuse(f"{where}.polygon[{index}]", f"A point is [x, y] with two finite numbers; got {_show(point)}.")
        points.append((float(point[0]), float(point[1])))
    return Leaf("projection", body["key"], "lasso", tuple(points), path)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and abs(x) < 1e300 and x == x


def _is_box(value: Any) -> bool:
    def number(x):
        return isinstance(x, int | float) and not isinstance(x, bool)

    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(corner, list) and len(corner) == 2 and all(map(number, corner)) for corner in value))


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "..."
