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
``STRING_VALUE``, ``BOOLEAN_VALUE``, ``INSTANT_VALUE``: STYLE rule 5), and ALL facets are one SQL
statement: the filtered rows' values are read once into a CTE and grouped per key in one ``GROUPING SETS``
pass (a histogram by its bin); Python only shapes the few rows per key that come back.

Large results are sampled: when the item table is large and a probe of its pages estimates more than
``EXACT_MAX_ROWS`` matching items, the same statement reads a ``TABLESAMPLE SYSTEM`` of the pages sized
for ~``SAMPLE_ROWS`` matching rows, and the counts are scaled to the estimated count (the answer says
``approximate``, ``count`` and ``sample_percent``). A 10-key pass over all 1M items took 4-8 s here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import FloatField, JSONField, QuerySet, TextField

from apps.explorer.compiler import BOOLEAN_VALUE, INSTANT_VALUE, NUMBER_VALUE, STRING_VALUE, UNTYPED, key_type
from apps.explorer.filters import Node, builtin, builtin_names, refuse
from apps.explorer.selectors import explore_queryset
from apps.explorer.sql import Sql
from apps.metadata.selectors import schema_for
from apps.metadata.validation import Schema, key_name_error
from apps.storage.models import Item

TOP_VALUES = 50  # values listed for a varchar/uuid/undeclared facet; the rest are summed into "other"
HISTOGRAM_BINS = 20
MAX_FACET_KEYS = 20  # a sidebar shows a dozen; all of them are one GROUPING SETS pass over the rows
# Exact up to this many matching rows (10 facets, one of them a datetime, cost 10-40 us a row on 2 busy
# cores); a broad result at 1M items would take 4-8 s (bench/README.md), so it is read from a sample.
EXACT_MAX_ROWS = 25_000
SAMPLE_ROWS = 20_000  # matching rows a sample aims to hold: proportions within ~1% (binomial, 95%)
# Of the item table's pages: a narrower result gets a smaller sample, not a slower one (a sample scan
# cannot use the filter's index, so every sampled row pays the filter: 25% took seconds for a datetime range).
SAMPLE_MAX_PERCENT = 10.0
PROBE_ROWS = 10_000  # the item table rows' worth of pages a probe reads to estimate the result's size
PROBE_MIN_PERCENT = 0.5
SAMPLE_SEED = 7
ITEMS_FROM = f' FROM "{Item._meta.db_table}" '

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
            refuse(where, f"Unknown built-in field {json.dumps(name)[:60]}: one of {', '.join(builtin_names())}.")
        if target == "key" and key_name_error(name):
            refuse(where, f"Not a metadata key name: {key_name_error(name)}")
        keys.append(FacetKey(target, name, where))
    return tuple(keys)


@dataclass(frozen=True)
class FacetsAnswer:
    """``facets`` in the order of the keys; ``count`` items described (exact, or estimated from the
    sample); ``approximate`` when read from a ``sample_percent`` % sample of the item table's pages."""

    facets: list[dict]
    count: int
    approximate: bool = False
    sample_percent: float | None = None


def explore_facets(*, user, organisation, scope_folder=None, recursive: bool = True, tree: Node | None = None,
                   keys: tuple[FacetKey, ...]) -> FacetsAnswer:
    """One facet per key, in order, over the items ``explore_items`` would page through.

    Exact when the result holds at most ``EXACT_MAX_ROWS`` items (or the item table does); larger
    results are read from a sample and scaled (``approximate``): each facet's counts, ``other`` and
    ``missing`` then add up to the estimated ``count``, and a histogram's bins span the sample's min
    and max. Raises ``ServiceValidationError`` keyed ``keys[i]`` for a key whose type has no facet
    (text, geospatial, embedding) before anything is read, and ``filter...``/``q`` as the search does."""
    schema = schema_for(organisation_id=organisation.pk)
    plans = [_plan(key, schema) for key in keys]
    items = explore_queryset(user=user, organisation=organisation, scope_folder=scope_folder,
                             recursive=recursive, tree=tree, schema=schema)
    percent = _sample_percent(items)
    total, edges, groups = _read(items, plans, percent)
    ranges = iter(edges)
    facets = []
    for key, plan, found in zip(keys, plans, groups):
        span = (next(ranges), next(ranges)) if plan[0] in HISTOGRAMS else None
        facets.append({key.target: key.name, "type": plan[0], **_shape(plan, found, total, span)})
    if percent is None:
        return FacetsAnswer(facets, total)
    count = round(total * 100.0 / percent)
    return FacetsAnswer([_scaled(facet, total, count) for facet in facets], count, True, percent)


# --------------------------------------------------------------------------- what each key is read as


def _plan(key: FacetKey, schema: Schema) -> tuple[str, Sql, tuple[str, ...]]:
    """(facet type, the value expression over the item row, the values every-value facets list)."""
    what = f'field "{key.name}"' if key.target == "field" else f'key "{key.name}"'
    if key.target == "field":
        field = builtin(key.name)
        if field.expression:
            return "boolean", Sql(f"({field.expression})::text", columns={"c": field.column},
                                  output_field=TextField()), ("true", "false")
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


# --------------------------------------------------------------------------- one statement for every facet


def _statement(items: QuerySet, plans: list, percent: float | None) -> tuple[str, tuple, list[int]]:
    """The one statement answering every facet, its params and the ``GROUPING()`` mask of each facet.

    ``v`` holds the filtered (or sampled) rows' values, one column per facet, read once; ``r`` their
    count and each histogram's min and max; ``g`` groups ``v`` by each facet's value (a histogram's by
    its bin) in one ``GROUPING SETS`` pass. What comes back: one row of ``r``'s figures, then each
    facet's groups (a topped facet's ``TOP_VALUES`` largest only) and its NULL group (``missing``)."""
    width = len(plans)
    names = [f"facet_{n}" for n in range(width)]
    values = items.order_by().annotate(**{name: value for name, (_, value, _) in zip(names, plans)})
    inner, params = values.values_list(*names).query.sql_with_params()
    if percent is not None:
        inner = _sampled(inner, percent)
    histograms = [n for n, (kind, _, _) in enumerate(plans) if kind in HISTOGRAMS]
    topped = [n for n, (kind, _, _) in enumerate(plans) if kind not in HISTOGRAMS + COUNTED]
    masks = [(2 ** width - 1) ^ (1 << (width - 1 - n)) for n in range(width)]
    ranges = "".join(f", min(f{n}) AS min{n}, max(f{n}) AS max{n}" for n in histograms)
    edges = ", ".join(f"r.min{n}, r.max{n}" for n in histograms) or "NULL"
    columns = ", ".join(f"c{n}" for n in range(width))
    cells = ", ".join(_cell(n, plans[n][0]) for n in range(width))
    limited = f"grouping IN ({', '.join(str(masks[n]) for n in topped)})" if topped else "false"
    sql = f"""
WITH v ({", ".join(f"f{n}" for n in range(width))}) AS MATERIALIZED ({inner}),
r AS (SELECT count(*) AS total{ranges} FROM v),
g AS (SELECT GROUPING({columns}) AS grouping, coalesce({columns}) AS value, count(*) AS n
        FROM (SELECT {cells} FROM v CROSS JOIN r) x GROUP BY GROUPING SETS ({columns})),
ranked AS (SELECT g.*, row_number() OVER (PARTITION BY grouping ORDER BY value IS NULL, n DESC, value) AS rank
             FROM g)
SELECT NULL::int, NULL::text, r.total, ARRAY[{edges}]::float8[] FROM r
UNION ALL
SELECT grouping, value, n, NULL FROM ranked WHERE value IS NULL OR NOT {limited} OR rank <= {TOP_VALUES}
"""
    return sql, params, masks


def _cell(n: int, kind: str) -> str:
    """Facet ``n``'s grouped value as text: its value, or for a histogram its bin (``_histogram``'s rule)."""
    if kind not in HISTOGRAMS:
        return f"f{n}::text AS c{n}"
    return (f"(CASE WHEN f{n} IS NULL THEN NULL WHEN r.max{n} > r.min{n} THEN least(width_bucket(f{n}, r.min{n}, "
            f"r.max{n}, {HISTOGRAM_BINS}), {HISTOGRAM_BINS}) ELSE 1 END)::text AS c{n}")


def _sampled(sql: str, percent: float) -> str:
    """``sql`` reading a ``TABLESAMPLE SYSTEM`` of the item table's pages (the same pages for the same
    percentage: a fixed ``REPEATABLE`` seed, so a sidebar does not flicker between two requests)."""
    head, found, tail = sql.partition(ITEMS_FROM)
    if not found:
        raise ValueError("the filtered query does not read the item table")
    return f"{head}{ITEMS_FROM} TABLESAMPLE SYSTEM ({float(percent)!r}) REPEATABLE ({SAMPLE_SEED}){tail}"


# --------------------------------------------------------------------------- exact or sampled


def _sample_percent(items: QuerySet) -> float | None:
    """The percentage of the item table's pages to read, or None to read every matching row.

    Exact when the whole item table is small, or when a probe (``PROBE_ROWS`` rows' worth of pages,
    10-20 ms at 1M) finds the filtered result to be at most ``EXACT_MAX_ROWS``. Otherwise the sample is
    sized to hold about ``SAMPLE_ROWS`` matching rows, within [probe, ``SAMPLE_MAX_PERCENT``]."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Item._meta.db_table])
        table_rows = cursor.fetchone()[0]
        if table_rows <= EXACT_MAX_ROWS:  # also -1: never analysed, so never large
            return None
        probe = min(100.0, max(PROBE_MIN_PERCENT, 100.0 * PROBE_ROWS / table_rows))
        sql, params = items.order_by().values_list("pk").query.sql_with_params()
        cursor.execute(f"SELECT count(*) FROM ({_sampled(sql, probe)}) p", params)
        estimate = cursor.fetchone()[0] * 100.0 / probe
    if estimate <= EXACT_MAX_ROWS:
        return None
    return round(min(SAMPLE_MAX_PERCENT, max(probe, 100.0 * SAMPLE_ROWS / estimate)), 3)


def _read(items: QuerySet, plans: list, percent: float | None) -> tuple[int, list[float | None], list[dict]]:
    """(rows read, each histogram's [min, max, ...], per facet {value text or None: count})."""
    sql, params, masks = _statement(items, plans, percent)
    rows = _fetch(sql, params)
    total, edges = rows[0][2], rows[0][3]
    facet_of = {mask: n for n, mask in enumerate(masks)}
    groups: list[dict] = [{} for _ in plans]
    for mask, value, count, _ in rows[1:]:
        groups[facet_of[mask]][value] = count
    return total, edges, groups


def _shape(plan: tuple, groups: dict, total: int, edges) -> dict:
    kind, _, listed = plan
    missing = groups.pop(None, 0)
    if kind in HISTOGRAMS:
        return _histogram(groups, missing, edges, datetimes=kind == "datetime")
    if kind in COUNTED:
        return {"counts": [{"value": _listed_value(v), "count": groups.pop(v, 0)} for v in listed],
                "other": sum(groups.values()), "missing": missing}
    top = sorted(groups.items(), key=lambda group: (-group[1], group[0]))[:TOP_VALUES]
    counts = [{"value": json.loads(v) if kind == UNTYPED else v, "count": n} for v, n in top]
    return {"counts": counts, "other": total - missing - sum(n for _, n in top), "missing": missing}


def _listed_value(value: str):
    return {"true": True, "false": False}.get(value, value)


def _histogram(groups: dict, missing: int, edges, *, datetimes: bool) -> dict:
    """``HISTOGRAM_BINS`` equal bins from min to max (each holds [edge, next edge), the last one also
    max; one bin when min = max, none when nothing has a value): ``bins`` are the edges, one more
    than ``counts``. Datetimes are binned as instants and given as ISO 8601 in UTC."""
    low, high = edges
    if low is None:
        return {"bins": [], "counts": [], "min": None, "max": None, "missing": missing}
    size = HISTOGRAM_BINS if high > low else 1
    counts = [groups.get(str(b), 0) for b in range(1, size + 1)]
    bins = [low + (high - low) * i / size for i in range(size)] + [high]
    shown = _instant if datetimes else _number
    return {"bins": [shown(e) for e in bins], "counts": counts, "min": shown(low), "max": shown(high),
            "missing": missing}


def _scaled(facet: dict, sampled: int, count: int) -> dict:
    """A sampled facet's counts scaled from ``sampled`` rows to ``count`` (largest remainders, so that
    ``counts`` + ``other`` + ``missing`` still add up to ``count``, and a value seen keeps a count >= 1)."""
    histogram = "bins" in facet
    parts = (facet["counts"] if histogram else [c["count"] for c in facet["counts"]])
    parts = [*parts, facet.get("other", 0), facet["missing"]]
    shares = [part * count / sampled for part in parts] if sampled else parts
    whole = [int(share) for share in shares]
    for n in sorted(range(len(parts)), key=lambda n: whole[n] - shares[n])[:count - sum(whole)]:
        whole[n] += 1
    *listed, other, missing = whole
    counts = listed if histogram else [{**c, "count": n} for c, n in zip(facet["counts"], listed)]
    return {**facet, "counts": counts, **({} if histogram else {"other": other}), "missing": missing}


def _instant(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def _fetch(sql: str, params: tuple) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
