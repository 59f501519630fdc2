"""Facets of the Explorer's current result: value counts and histograms that follow the filter.

``explore_facets`` takes the same scope and filter tree as ``explore_items`` (it starts from
``explore_queryset``: the one scope rule and the one compiler) and answers, per requested key:

- boolean and enum keys (and the ``type``/``status`` built-ins): a count for every value, zeros included;
- varchar, uuid and undeclared keys (and the ``name``/``folder`` built-ins): the 50 most frequent values,
  an ``other`` count for the rest;
- number and datetime keys and the numeric built-ins (``file_size``, ``width``, ``height``, ``duration``,
  ``fps``, ``created``): a histogram of ``HISTOGRAM_BINS`` equal bins between the result's min and max.

Every facet also says how many items are ``missing`` a value of its kind (no key, or a value of another
kind: a ``"high"`` in a number key is missing from the number histogram, as the compiler's comparisons
never match it). Values are read with the compiler's own type-guarded expressions (``NUMBER_VALUE``,
``STRING_VALUE``, ``BOOLEAN_VALUE``, ``INSTANT_VALUE``: STYLE rule 5), and each facet is ONE SQL statement
over the filtered rows: the filtered query is a CTE, grouped and bucketed by PostgreSQL; Python only shapes
the at most 51 rows that come back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import FloatField, JSONField, QuerySet, TextField

from apps.explorer.compiler import BOOLEAN_VALUE, INSTANT_VALUE, NUMBER_VALUE, STRING_VALUE, UNTYPED, key_type
from apps.explorer.filters import BUILTIN_NAMES, Node, builtin, refuse
from apps.explorer.selectors import explore_queryset
from apps.explorer.sql import Sql
from apps.metadata.selectors import schema_for
from apps.metadata.validation import Schema, key_name_error

TOP_VALUES = 50  # values listed for a varchar/uuid/undeclared facet; the rest are summed into "other"
HISTOGRAM_BINS = 20
MAX_FACET_KEYS = 20  # a sidebar shows a dozen; each facet is one pass over the filtered rows

COUNTED = ("boolean", "enum")  # every value listed
TOPPED = ("varchar", "uuid", UNTYPED)  # the most frequent values listed
HISTOGRAMS = ("number", "datetime")
UNTYPED_SCALAR = ("(CASE WHEN jsonb_typeof({m} -> %s) IN ('string', 'number', 'boolean') "
                  "THEN {m} -> %s END)")


@dataclass(frozen=True)
class FacetKey:
    """A requested facet: a metadata ``key`` or a built-in ``field``, and where it was asked for."""

    target: str
    name: str
    path: str = "keys"


def facet_keys_from_json(data, *, path: str = "keys") -> tuple[FacetKey, ...]:
    """``["camera", {"key": "score"}, {"field": "width"}]`` as facet keys (a string is a metadata key).
    Checks the shape and names only; whether the key's type has a facet is ``explore_facets``'s call."""
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_FACET_KEYS:
        refuse(path, f'A list of 1 to {MAX_FACET_KEYS} keys: "<metadata key>", {{"key": ...}} or {{"field": ...}}.')
    keys = []
    for index, entry in enumerate(data):
        where = f"{path}[{index}]"
        if isinstance(entry, str):
            entry = {"key": entry}
        if not isinstance(entry, dict) or len(entry) != 1 or set(entry) - {"key", "field"}:
            refuse(where, 'A facet key is "<metadata key>", {"key": <metadata key>} or {"field": <built-in>}.')
        (target, name), = entry.items()
        if target == "field" and builtin(name) is None:
            refuse(where, f"Unknown built-in field {json.dumps(name)[:60]}: one of {', '.join(BUILTIN_NAMES)}.")
        if target == "key" and key_name_error(name):
            refuse(where, f"Not a metadata key name: {key_name_error(name)}")
        keys.append(FacetKey(target, name, where))
    return tuple(keys)


def explore_facets(*, user, organisation, scope_folder=None, recursive: bool = True, tree: Node | None = None,
                   keys: tuple[FacetKey, ...]) -> list[dict]:
    """One facet per key, in order, over the items ``explore_items`` would page through.

    Raises ``ServiceValidationError`` keyed ``keys[i]`` for a key whose type has no facet (text,
    geospatial, embedding) before any facet is computed, and ``filter...``/``q`` as the search does."""
    schema = schema_for(organisation_id=organisation.pk)
    plans = [_plan(key, schema) for key in keys]
    items = explore_queryset(user=user, organisation=organisation, scope_folder=scope_folder,
                             recursive=recursive, tree=tree, schema=schema)
    return [_facet(items, key, kind, value, extra) for key, (kind, value, extra) in zip(keys, plans)]


# --------------------------------------------------------------------------- what each key is read as


def _plan(key: FacetKey, schema: Schema) -> tuple[str, Sql, tuple[str, ...]]:
    """(facet type, the value expression over the item row, the values every-value facets list)."""
    what = f'field "{key.name}"' if key.target == "field" else f'key "{key.name}"'
    if key.target == "field":
        field = builtin(key.name)
        column = Sql("{c}", columns={"c": field.column}, output_field=_output(field.type))
        if field.type == "datetime":
            column = Sql("extract(epoch FROM {c})::float8", columns={"c": field.column}, output_field=FloatField())
        if field.type == "uuid":
            column = Sql("{c}::text", columns={"c": field.column}, output_field=TextField())
        return field.type, column, field.choices
    kind = key_type(schema, key.name)
    name = key.name
    if kind == "number":
        return kind, Sql(NUMBER_VALUE, [name, name], output_field=FloatField()), ()
    if kind == "datetime":
        return kind, Sql(f"extract(epoch FROM {INSTANT_VALUE})::float8", [name], output_field=FloatField()), ()
    if kind == "boolean":
        return kind, Sql(BOOLEAN_VALUE, [name, name], output_field=TextField()), ("true", "false")
    if kind in ("enum", "varchar", "uuid"):
        spec = schema.spec(name)
        return kind, Sql(STRING_VALUE, [name, name], output_field=TextField()), spec.enum_values
    if kind == UNTYPED:
        return kind, Sql(UNTYPED_SCALAR, [name, name], output_field=JSONField()), ()
    refuse(key.path, f"{what} is {kind}: facets count boolean, enum, varchar, uuid and undeclared keys "
                     f"and histogram number and datetime keys; a {kind} key has none.")


def _output(field_type: str):
    return FloatField() if field_type == "number" else TextField()


# --------------------------------------------------------------------------- one statement per facet


def _inner(items: QuerySet, value: Sql) -> tuple[str, tuple]:
    """The filtered rows' values as SQL (``SELECT <value> AS v FROM ... WHERE <scope and filter>``)."""
    query = items.order_by().annotate(facet_value=value).values_list("facet_value").query
    return query.sql_with_params()


def _facet(items: QuerySet, key: FacetKey, kind: str, value: Sql, listed: tuple[str, ...]) -> dict:
    head = {key.target: key.name, "type": kind}
    inner, params = _inner(items, value)
    if kind in HISTOGRAMS:
        return {**head, **_histogram(inner, params, datetimes=kind == "datetime")}
    if kind in COUNTED:
        return {**head, **_counts(inner, params, listed)}
    return {**head, **_top_values(inner, params, json_values=kind == UNTYPED)}


COUNTS_SQL = """
WITH v AS ({inner})
SELECT v.facet_value::text, count(*) FROM v GROUP BY 1
"""


def _counts(inner: str, params: tuple, listed: tuple[str, ...]) -> dict:
    """Every listed value with its count (0 when absent); values outside the list (strings written before
    an enum was declared) are ``other``; rows without a value are ``missing``."""
    rows = _fetch(COUNTS_SQL.format(inner=inner), params)
    found = {value: count for value, count in rows}
    missing = found.pop(None, 0)
    return {"counts": [{"value": _listed_value(value), "count": found.pop(value, 0)} for value in listed],
            "other": sum(found.values()), "missing": missing}


def _listed_value(value: str):
    return {"true": True, "false": False}.get(value, value)


TOP_SQL = """
WITH g AS (SELECT facet_value AS value, count(*) AS n FROM ({inner}) v GROUP BY 1)
SELECT t.total, t.missing, top.value::text, top.n
FROM (SELECT coalesce(sum(n) FILTER (WHERE value IS NOT NULL), 0)::bigint AS total,
             coalesce(sum(n) FILTER (WHERE value IS NULL), 0)::bigint AS missing FROM g) t
LEFT JOIN LATERAL (SELECT value, n FROM g WHERE value IS NOT NULL ORDER BY n DESC, value LIMIT {limit}) top ON true
"""


def _top_values(inner: str, params: tuple, *, json_values: bool) -> dict:
    """The ``TOP_VALUES`` most frequent values (ties by value), ``other`` for the rest, ``missing``."""
    rows = _fetch(TOP_SQL.format(inner=inner, limit=TOP_VALUES), params)
    total, missing = rows[0][0], rows[0][1]
    counts = [{"value": json.loads(value) if json_values else value, "count": n}
              for _, _, value, n in rows if n is not None]
    return {"counts": counts, "other": total - sum(c["count"] for c in counts), "missing": missing}


HISTOGRAM_SQL = """
WITH v AS ({inner}),
r AS (SELECT min(facet_value) AS lo, max(facet_value) AS hi, count(*) - count(facet_value) AS missing FROM v)
SELECT r.lo, r.hi, r.missing, b.bin, b.n
FROM r LEFT JOIN LATERAL (
  SELECT CASE WHEN r.hi > r.lo THEN least(width_bucket(facet_value, r.lo, r.hi, {bins}), {bins}) ELSE 1 END AS bin,
         count(*) AS n
  FROM v WHERE facet_value IS NOT NULL GROUP BY 1
) b ON true
"""


def _histogram(inner: str, params: tuple, *, datetimes: bool) -> dict:
    """``HISTOGRAM_BINS`` equal bins from min to max (each holds [edge, next edge), the last one also
    max; one bin when min = max, none when nothing has a value): ``bins`` are the edges, one more
    than ``counts``. Datetimes are binned as instants and given as ISO 8601 in UTC."""
    rows = _fetch(HISTOGRAM_SQL.format(inner=inner, bins=HISTOGRAM_BINS), params)
    low, high, missing = rows[0][0], rows[0][1], rows[0][2]
    if low is None:
        return {"bins": [], "counts": [], "min": None, "max": None, "missing": missing}
    size = HISTOGRAM_BINS if high > low else 1
    counts = [0] * size
    for *_, bin_number, count in rows:
        counts[bin_number - 1] = count
    edges = [low + (high - low) * i / size for i in range(size)] + [high]
    shown = _instant if datetimes else _number
    return {"bins": [shown(e) for e in edges], "counts": counts, "min": shown(low), "max": shown(high),
            "missing": missing}


def _instant(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _fetch(sql: str, params: tuple) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
