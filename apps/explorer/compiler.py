"""The one filter compiler: a filter tree (``apps.explorer.filters``) and the organisation's schema in,
a Django ``Q`` over ``Item`` out. The Explorer page, the REST API, bulk edit and saved views all call
``compile_filter``; nothing filters rows in Python and no type is guessed from values.

Each leaf is compiled by the entry of ``TABLE`` for (its key's schema type, its operator); a pair that
is not in the table is refused. Undeclared (and soft-deleted) keys are ``untyped``. Semantics:

- A comparison matches only items that have the key with a value of the compared kind, ``ne`` included
  (``score ne 3`` does not match an item without ``score``, nor one whose ``score`` is a string): a
  leaf is NULL or false where it does not match.
- ``not`` negates its whole operand: it compiles to ``NOT coalesce((operand), false)``, so
  ``not camera = "cam3"`` also matches items without ``camera``. Leaves stay plain (no coalesce) so
  that an index on the same expression serves them: the typed values (``NUMBER_VALUE`` ...) are NULL
  for another kind, which is also what a partial index ``WHERE <value> IS NOT NULL`` needs.
- Equality and membership of a declared number, varchar, uuid or enum key compare its typed value
  (``NUMBER_VALUE = %s``, ``STRING_VALUE = ANY(%s)``), the expression of the key's btree and statistics
  (``apps.explorer.indexes``); of a boolean or undeclared key they are JSONB containment
  (``client_metadata @> '{"k": v}'``), which the organisation's GIN index serves. Ranges compare a cast
  of the value guarded by ``jsonb_typeof`` (never raw JSONB: STYLE rule 5); datetimes compare as
  instants through ``loupe_jsonb_instant`` (migration ``explorer.0001``).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db.models import BooleanField, DateTimeField, F, FloatField, Q, TextField

from apps.explorer.filters import And, Leaf, Node, Not, builtin, refuse, refuse_at
from apps.explorer.sql import Sql
from apps.metadata.validation import KeySpec, Schema

UNTYPED = "untyped"
COMPARISONS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
RANGE_OPS = ("lt", "lte", "gt", "gte", "between")


# --------------------------------------------------------------------------- SQL pieces over client_metadata

def _contains(name: str, value: Any) -> tuple[str, list]:
    return "{m} @> %s::jsonb", [json.dumps({name: value}, ensure_ascii=False)]


def _any_contains(name: str, values: list) -> tuple[str, list]:
    parts = [_contains(name, value) for value in values]
    return " OR ".join(sql for sql, _ in parts), [p for _, params in parts for p in params]


NUMBER_VALUE = "(CASE WHEN jsonb_typeof({m} -> %s) = 'number' THEN ({m} ->> %s)::float8 END)"
STRING_VALUE = "(CASE WHEN jsonb_typeof({m} -> %s) = 'string' THEN {m} ->> %s END)"
BOOLEAN_VALUE = "(CASE WHEN jsonb_typeof({m} -> %s) = 'boolean' THEN ({m} ->> %s)::boolean END)"
INSTANT_VALUE = "loupe_jsonb_instant({m} -> %s)"


def _typed_value(name: str, kind: str) -> tuple[str, list]:
    """The key's value as SQL of its JSON kind, NULL when missing or of another kind."""
    template = {"number": NUMBER_VALUE, "string": STRING_VALUE, "boolean": BOOLEAN_VALUE}[kind]
    return template, [name, name]


def _and(*parts: tuple[str, list]) -> tuple[str, list]:
    return " AND ".join(f"({sql})" for sql, _ in parts), [p for _, params in parts for p in params]


def _not(part: tuple[str, list]) -> tuple[str, list]:
    return f"NOT ({part[0]})", part[1]


def _like_pattern(text: str, *, prefix: bool) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if prefix else "%" + escaped + "%"


# --------------------------------------------------------------------------- values


def _number(leaf: Leaf, value: Any) -> float | int:
    # The size check comes first: math.isfinite raises OverflowError on an int past float's range (10**309).
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        refuse_at(leaf, f"A number in a filter is at most 2**53 in size; got {str(value)[:60]}.")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        refuse_at(leaf, f'"{leaf.op}" on {_what(leaf)} compares numbers; got {json.dumps(value)[:60]}.')
    return value


def _instant(leaf: Leaf, value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        # In UTC: Python takes offsets to +-23:59, PostgreSQL to +-15:59; and 0001-01-01+05:00 is year 0.
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC) if parsed else None
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        refuse_at(leaf, f'{_what(leaf)} compares datetimes (ISO 8601, e.g. "2026-12-01T10:00:00+02:00"); '
                          f"got {json.dumps(value)[:60]}.")
    return parsed


def _string(leaf: Leaf, value: Any, spec: KeySpec | None = None) -> str:
    if not isinstance(value, str):
        refuse_at(leaf, f"{_what(leaf)} compares strings; got {json.dumps(value)[:60]}.")
    if spec is not None and spec.type == "varchar" and len(value) > spec.max_length:
        refuse_at(leaf, f"{_what(leaf)} holds at most {spec.max_length} characters; got {len(value)}.")
    return value


def _uuid(leaf: Leaf, value: Any) -> str:
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else refuse_at(leaf, "")
    except ValueError:
        refuse_at(leaf, f"{_what(leaf)} compares UUIDs; got {json.dumps(value)[:60]}.")


def _boolean(leaf: Leaf, value: Any) -> bool:
    if not isinstance(value, bool):
        refuse_at(leaf, f"{_what(leaf)} compares true or false; got {json.dumps(value)[:60]}.")
    return value


def _enum_value(choices: tuple[str, ...]) -> Callable[[Leaf, Any], str]:
    def check(leaf: Leaf, value: Any) -> str:
        if not (isinstance(value, str) and value in choices):
            shown = ", ".join(json.dumps(c) for c in choices[:10]) + (", ..." if len(choices) > 10 else "")
            refuse_at(leaf, f"{_what(leaf)} is one of {shown}; got {json.dumps(value)[:60]}.")
        return value
    return check


def _scalar(leaf: Leaf, value: Any) -> str | float | int | bool:
    """An undeclared key's equality value: a string, a finite number or a boolean."""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int | float):
        return _number(leaf, value)
    refuse_at(leaf, f"{_what(leaf)} is undeclared: it compares strings, numbers or booleans; "
                      f"got {json.dumps(value)[:60]}.")


def _json_kind(value: Any) -> str:
    return "boolean" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"


def _what(leaf: Leaf) -> str:
    return f'field "{leaf.name}"' if leaf.target == "field" else f'key "{leaf.name}"'


# --------------------------------------------------------------------------- leaves over client_metadata


def _key_equality(check: Callable[[Leaf, Any], Any], kind: Callable[[Any], str] | str):
    """eq / ne / in by containment; ``ne`` also requires a value of the compared kind."""
    def compile_leaf(leaf: Leaf, spec) -> tuple[str, list]:
        if leaf.op == "in":
            return _any_contains(leaf.name, [check(leaf, v) for v in leaf.value])
        value = check(leaf, leaf.value)
        if leaf.op == "eq":
            return _contains(leaf.name, value)
        json_kind = kind(value) if callable(kind) else kind
        if json_kind == "boolean":  # the other boolean: containment again
            return _contains(leaf.name, not value)
        template, params = _typed_value(leaf.name, json_kind)
        return f"{template} <> %s", [*params, value]
    return compile_leaf


def _typed_equality(check: Callable[[Leaf, Any], Any], kind: str):
    """eq / ne / in of a declared key on its typed value (what the key's btree indexes)."""
    def compile_leaf(leaf: Leaf, spec) -> tuple[str, list]:
        template, params = _typed_value(leaf.name, kind)
        if leaf.op == "in":
            values = [check(leaf, v) for v in leaf.value]
            return f"{template} = ANY(%s)", [*params, [float(v) for v in values] if kind == "number" else values]
        return f"{template} {COMPARISONS[leaf.op]} %s", [*params, check(leaf, leaf.value)]
    return compile_leaf


def _key_number_range(leaf: Leaf, spec) -> tuple[str, list]:
    if leaf.op == "between":
        low, high = (_number(leaf, v) for v in leaf.value)
        return f"{NUMBER_VALUE} BETWEEN %s AND %s", [leaf.name, leaf.name, low, high]
    return f"{NUMBER_VALUE} {COMPARISONS[leaf.op]} %s", [leaf.name, leaf.name, _number(leaf, leaf.value)]


def _key_instant(leaf: Leaf, spec) -> tuple[str, list]:
    if leaf.op == "between":
        low, high = (_instant(leaf, v) for v in leaf.value)
        return f"{INSTANT_VALUE} BETWEEN %s AND %s", [leaf.name, low, high]
    return f"{INSTANT_VALUE} {COMPARISONS[leaf.op]} %s", [leaf.name, _instant(leaf, leaf.value)]


def _key_text_match(leaf: Leaf, spec) -> tuple[str, list]:
    text = _string(leaf, leaf.value)
    if spec is not None and spec.type == "uuid":
        text = text.lower()  # stored canonical lowercase
    prefix = leaf.op == "prefix"
    operator = "LIKE" if prefix else "ILIKE"
    return f"{STRING_VALUE} {operator} %s", [leaf.name, leaf.name, _like_pattern(text, prefix=prefix)]


def _key_within(leaf: Leaf, spec) -> tuple[str, list]:
    (lon_min, lat_min), (lon_max, lat_max) = leaf.value
    if not (-180 <= lon_min <= lon_max <= 180 and -90 <= lat_min <= lat_max <= 90):
        refuse_at(leaf, '"within" takes [[lon_min, lat_min], [lon_max, lat_max]] with min <= max, '
                          "longitudes in -180..180 and latitudes in -90..90.")
    name = leaf.name
    return _and(
        (f"{_coordinate('longitude')} BETWEEN %s AND %s", [name, name, lon_min, lon_max]),
        (f"{_coordinate('latitude')} BETWEEN %s AND %s", [name, name, lat_min, lat_max]),
    )


def _coordinate(which: str) -> str:
    return (f"(CASE WHEN jsonb_typeof({{m}} -> %s -> '{which}') = 'number' "
            f"THEN ({{m}} -> %s ->> '{which}')::float8 END)")


def _key_exists(leaf: Leaf, spec) -> tuple[str, list]:
    found = ("{m} ? %s", [leaf.name])
    return found if leaf.op == "exists" else _not(found)


def _embedding_exists(leaf: Leaf, spec) -> tuple[str, list]:
    """Whether the item (not one of its frames) has a vector of the embedding key (``metadata.Embedding``)."""
    from apps.metadata.models import Embedding, MetadataKey

    found = (f"EXISTS (SELECT 1 FROM {Embedding._meta.db_table} e JOIN {MetadataKey._meta.db_table} k "
             "ON k.id = e.key_id WHERE k.organisation_id = {org} AND k.name = %s AND e.item_id = {pk} "
             "AND e.frame IS NULL)", [leaf.name])
    return found if leaf.op == "exists" else _not(found)


def _untyped_range(leaf: Leaf, spec) -> tuple[str, list]:
    values = leaf.value if leaf.op == "between" else [leaf.value]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        refuse_at(leaf, f'{_what(leaf)} is undeclared: "{leaf.op}" compares numbers only (declare the key '
                          "as a datetime to compare dates).")
    return _key_number_range(leaf, spec)


_BOOLEAN_EQ = _key_equality(_boolean, lambda v: "boolean")
_NUMBER_EQ = _typed_equality(_number, "number")
_DATETIME_EQ = _key_instant
_UUID_EQ = _typed_equality(_uuid, "string")
_UNTYPED_EQ = _key_equality(_scalar, _json_kind)


def _varchar_eq(leaf: Leaf, spec) -> tuple[str, list]:
    return _typed_equality(lambda lf, v: _string(lf, v, spec), "string")(leaf, spec)


def _enum_eq(leaf: Leaf, spec) -> tuple[str, list]:
    return _typed_equality(_enum_value(spec.enum_values), "string")(leaf, spec)


def _table() -> dict[tuple[str, str], Callable]:
    table: dict[tuple[str, str], Callable] = {}

    def put(kind: str, ops, compile_leaf) -> None:
        for op in ops:
            table[(kind, op)] = compile_leaf

    every = ("boolean", "number", "datetime", "uuid", "varchar", "text", "enum", "geospatial", UNTYPED)
    for kind in every:
        put(kind, ("exists", "missing"), _key_exists)
    put("embedding", ("exists", "missing"), _embedding_exists)
    put("boolean", ("eq", "ne", "in"), _BOOLEAN_EQ)
    put("number", ("eq", "ne", "in"), _NUMBER_EQ)
    put("number", RANGE_OPS, _key_number_range)
    put("datetime", ("eq", "ne", *RANGE_OPS), _DATETIME_EQ)
    put("uuid", ("eq", "ne", "in"), _UUID_EQ)
    put("uuid", ("prefix", "contains"), _key_text_match)
    put("varchar", ("eq", "ne", "in"), _varchar_eq)
    put("varchar", ("prefix", "contains"), _key_text_match)
    put("text", ("contains",), _key_text_match)
    put("enum", ("eq", "ne", "in"), _enum_eq)
    put("geospatial", ("within",), _key_within)
    put(UNTYPED, ("eq", "ne", "in"), _UNTYPED_EQ)
    put(UNTYPED, ("prefix", "contains"), _key_text_match)
    put(UNTYPED, RANGE_OPS, _untyped_range)
    return table


TABLE = _table()


# --------------------------------------------------------------------------- built-in columns


def _field_compile(leaf: Leaf) -> tuple[str, list]:
    field = builtin(leaf.name)
    if field.expression:  # a derived boolean: eq/ne true|false only
        if leaf.op not in ("eq", "ne"):
            refuse_at(leaf, f'{_what(leaf)} (boolean) takes eq, ne; not "{leaf.op}".')
        wanted = _boolean(leaf, leaf.value) == (leaf.op == "eq")
        return (field.expression if wanted else f"NOT {field.expression}"), []
    ops = FIELD_OPS[field.type] + (("exists", "missing") if field.nullable else ())
    if leaf.op not in ops:
        refuse_at(leaf, f'{_what(leaf)} ({field.type}) takes {", ".join(ops)}; not "{leaf.op}".')
    if leaf.op in ("exists", "missing"):
        return ("{c} IS NOT NULL" if leaf.op == "exists" else "{c} IS NULL"), []
    check = {
        "enum": _enum_value(field.choices), "uuid": _uuid, "varchar": _string, "datetime": _instant,
        "number": _number,
    }[field.type]
    if leaf.op in ("prefix", "contains"):
        text = _string(leaf, leaf.value)
        return ("{c} LIKE %s" if leaf.op == "prefix" else "{c} ILIKE %s"), [
            _like_pattern(text, prefix=leaf.op == "prefix")]
    if leaf.op == "in":  # one array of one type: UUIDs as UUIDs, numbers as float8
        cast = {"uuid": uuid.UUID, "number": float}.get(field.type, lambda v: v)
        sql, params = "{c} = ANY(%s)", [[cast(check(leaf, v)) for v in leaf.value]]
    elif leaf.op == "between":
        low, high = (check(leaf, v) for v in leaf.value)
        sql, params = "{c} BETWEEN %s AND %s", [low, high]
    else:
        sql, params = f"{{c}} {COMPARISONS[leaf.op]} %s", [check(leaf, leaf.value)]
    return sql, params  # NULL where a nullable column is: no match, and NOT coalesces it


FIELD_OPS = {
    "enum": ("eq", "ne", "in"),
    "uuid": ("eq", "ne", "in"),
    "varchar": ("eq", "ne", "in", "prefix", "contains"),
    "datetime": ("eq", "ne", *RANGE_OPS),
    "number": ("eq", "ne", "in", *RANGE_OPS),
}


# --------------------------------------------------------------------------- the tree


def key_type(schema: Schema, name: str) -> str:
    """The type a key is compiled as: its schema type, or ``untyped`` when it is not declared (active)."""
    spec = schema.spec(name)
    return spec.type if spec is not None else UNTYPED


# Leaves over tables of the apps above the Explorer (the lasso over ``apps.similarity``'s projection
# points): those apps set their compiler here in ``AppConfig.ready``, so the dependency keeps pointing down.
_TARGET_COMPILERS: dict[str, Callable[[Leaf, Schema], tuple[str, list]]] = {}
TARGET_COLUMNS = {"pk": "uuid", "org": "organisation_id"}  # what such SQL may read of the item: {pk}, {org}


def leaf_compiler_set(target: str, compile_target: Callable[[Leaf, Schema], tuple[str, list]]) -> None:
    """Compile the leaves whose ``target`` is ``target`` with ``compile_target(leaf, schema) -> (sql, params)``."""
    _TARGET_COMPILERS[target] = compile_target


def _leaf_sql(leaf: Leaf, schema: Schema) -> tuple[str, list, dict[str, str]]:
    """One leaf as (SQL, params, columns it reads); refuses a (type, op) that is not in ``TABLE``."""
    if leaf.target in _TARGET_COMPILERS:
        sql, params = _TARGET_COMPILERS[leaf.target](leaf, schema)
        return sql, params, dict(TARGET_COLUMNS)
    if leaf.target not in ("key", "field"):
        refuse_at(leaf, f'No compiler for "{leaf.target}" leaves.')
    if leaf.target == "field":
        sql, params = _field_compile(leaf)
        column = builtin(leaf.name).column
        return sql.replace("{c}", "{" + column + "}"), params, {column: column}
    kind = key_type(schema, leaf.name)
    compile_entry = TABLE.get((kind, leaf.op))
    if compile_entry is None:
        allowed = sorted(op for (k, op) in TABLE if k == kind)
        hint = " (declare the key to compare it by type)" if kind == UNTYPED else ""
        refuse_at(leaf, f'{_what(leaf)} is {kind}: it takes {", ".join(allowed)}; not "{leaf.op}"{hint}.')
    sql, params = compile_entry(leaf, schema.spec(leaf.name))
    columns = {"m": "client_metadata", "pk": "uuid", "org": "organisation_id"} if kind == "embedding" \
        else {"m": "client_metadata"}
    return sql, params, columns


def compile_leaf(leaf: Leaf, schema: Schema) -> Q:
    """One leaf alone as a ``Q``, refused as ``compile_filter`` would refuse it (saved views check their
    leaves one by one against the schema as it is now, to say which one no longer applies)."""
    sql, params, columns = _leaf_sql(leaf, schema)
    return Q(Sql(sql, params, columns=columns))


def _tree_sql(node: Node, schema: Schema) -> tuple[str, list, dict[str, str]]:
    if isinstance(node, Leaf):
        return _leaf_sql(node, schema)
    if isinstance(node, Not):
        sql, params, columns = _tree_sql(node.child, schema)
        return f"NOT coalesce(({sql}), false)", params, columns
    parts = [_tree_sql(child, schema) for child in node.children]
    joiner = " AND " if isinstance(node, And) else " OR "
    columns = {}
    for _, _, used in parts:
        columns.update(used)
    return joiner.join(f"({sql})" for sql, _, _ in parts), [p for _, params, _ in parts for p in params], columns


def compile_filter(tree: Node | None, schema: Schema) -> Q:
    """The whole tree as a ``Q`` on ``Item`` (an empty ``Q`` for no filter): one SQL condition. Raises
    the field-keyed ``ServiceValidationError`` of the first refused leaf, keyed by its path."""
    if tree is None:
        return Q()
    sql, params, columns = _tree_sql(tree, schema)
    return Q(Sql(sql, params, columns=columns))


# --------------------------------------------------------------------------- sort values

SORTABLE = {
    "number": (NUMBER_VALUE, 2, FloatField),
    "datetime": (INSTANT_VALUE, 1, DateTimeField),
    "varchar": (STRING_VALUE, 2, TextField),
    "uuid": (STRING_VALUE, 2, TextField),
    "enum": (STRING_VALUE, 2, TextField),
    "boolean": (BOOLEAN_VALUE, 2, BooleanField),
}


def sort_value(*, target: str, name: str, schema: Schema, path: str):
    """The expression a sort key orders by (NULL where an item lacks the key or holds another kind)."""
    if target == "field":
        field = builtin(name)
        if field is None:
            refuse(path, f'Unknown built-in field "{name}".')
        if field.expression:
            return Sql(field.expression, columns={"c": field.column}, output_field=BooleanField())
        return F(field.column)
    kind = key_type(schema, name)
    if kind not in SORTABLE:
        hint = "declare it (number, datetime, varchar, uuid, enum or boolean) to sort by it" if kind == UNTYPED \
            else "sort by a number, datetime, varchar, uuid, enum or boolean key"
        refuse(path, f'key "{name}" is {kind}: {hint}.')
    template, uses, output = SORTABLE[kind]
    return Sql(template, [name] * uses, output_field=output())
