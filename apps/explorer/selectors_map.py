"""The points of an embedding key's 2-D projection that a user may see, and the values that colour them:
what the map page and its REST endpoints (``apps.explorer.api.projections``) serve.

The points a user receives are those of live top-level items in folders they may see *now*
(``apps.explorer.selectors.explore_scope``, the one rule), whatever was visible when it was computed.
"""

from __future__ import annotations

import numpy as np
from django.db import connection

from apps.explorer.selectors import explore_scope
from apps.similarity.models import Projection, ProjectionPoint
from apps.similarity.selectors import copy_out

PAYLOAD_MAGIC = b"LPJ1"
PAYLOAD_HEADER = np.dtype([("magic", "S4"), ("count", "<u4")])  # then x[n], y[n] (float32), ordinal[n] (uint32), uuid[n]


def _visible_points_sql(user, organisation, projection: Projection, columns: str) -> tuple[str, list]:
    """``SELECT <columns>`` over the projection's points of items ``user`` may see (alias ``p``)."""
    # order_by(): the items' default ordering would sort the whole scope (and join folders) for nothing.
    scope = explore_scope(user=user, organisation=organisation).order_by().values("pk")
    scope_sql, scope_params = scope.query.sql_with_params()
    sql = (f"SELECT {columns} FROM {ProjectionPoint._meta.db_table} p WHERE p.projection_id = %s "
           f"AND p.item_id IN ({scope_sql})")
    return sql, [projection.pk, *scope_params]


def _copy_rows(data: bytes, fields: list[tuple[str, str]]) -> np.ndarray:
    """Fixed-width binary COPY rows as a numpy record array (every field non-null, of the given dtype)."""
    layout = [("count", ">i2")]
    for name, dtype in fields:
        layout += [(f"{name}_length", ">i4"), (name, dtype)]
    body = data[19:-2]  # the 11-byte signature, flags and extension length; the -1 trailer
    return np.frombuffer(body, dtype=np.dtype(layout))


def projection_payload(*, user, organisation, projection: Projection) -> bytes:
    """The visible points as the binary the map reads (little-endian): ``b"LPJ1"``, count n (uint32),
    x[n] and y[n] (float32, in [-1, 1]), ordinal[n] (uint32, the point's number for colour values),
    then n item UUIDs of 16 bytes."""
    sql, params = _visible_points_sql(user, organisation, projection, "p.x, p.y, p.ordinal, p.item_id")
    rows = _copy_rows(copy_out(sql, params), [("x", ">f4"), ("y", ">f4"), ("ordinal", ">i4"), ("item", "S16")])
    header = np.array([(PAYLOAD_MAGIC, len(rows))], dtype=PAYLOAD_HEADER).tobytes()
    return b"".join([header, rows["x"].astype("<f4").tobytes(), rows["y"].astype("<f4").tobytes(),
                     rows["ordinal"].astype("<u4").tobytes(), rows["item"].tobytes()])


def projection_item_ids(*, user, organisation, projection: Projection) -> np.ndarray:
    """ordinal -> nothing: the (ordinal, item uuid) pairs of the visible points, for colour values."""
    sql, params = _visible_points_sql(user, organisation, projection, "p.ordinal, p.item_id")
    return _copy_rows(copy_out(sql, params), [("ordinal", ">i4"), ("item", "S16")])


COLOUR_CATEGORIES_MAX = 30  # distinct values a categorical colouring names; the rest are "other" (code 0)


def projection_colour_values(*, user, organisation, projection: Projection, target: str, name: str) -> bytes:
    """The values of one metadata key or built-in field for the visible points, to colour the map:
    a little-endian uint32 length and that much JSON (``{"kind": "category", "labels": [...]}`` with
    code 0 for missing/other and code i for ``labels[i-1]``, or ``{"kind": "number", "min", "max"}``),
    then count n (uint32), ordinal[n] (uint32) and value[n]: uint16 codes or float32 (NaN when missing).

    The value is the one the Explorer sorts by (``compiler.sort_value``): a key of a type that has no
    such value (text, geospatial, embedding) or an unknown field is refused, keyed by ``target``.
    """
    import json

    from apps.explorer.compiler import sort_value
    from apps.metadata.selectors import schema_for

    expression = sort_value(target=target, name=name, schema=schema_for(organisation_id=organisation.pk),
                            path=target)
    kind = _value_kind(expression, target, name)
    scope = explore_scope(user=user, organisation=organisation).order_by().annotate(colour_value=expression)
    value_sql, value_params = scope.values("pk", "colour_value").query.sql_with_params()
    base = (f"FROM {ProjectionPoint._meta.db_table} p JOIN ({value_sql}) s (item, v) ON s.item = p.item_id "
            "WHERE p.projection_id = %s")
    params = [*value_params, projection.pk]
    if kind != "category":
        value = "extract(epoch FROM s.v)::float4" if kind == "datetime" else "s.v::float4"
        rows = _copy_rows(copy_out(f"SELECT p.ordinal, coalesce({value}, 'NaN'::float4) {base}", params),
                          [("ordinal", ">i4"), ("value", ">f4")])
        finite = rows["value"][np.isfinite(rows["value"])]
        meta = {"kind": "number", "min": float(finite.min()) if len(finite) else None,
                "max": float(finite.max()) if len(finite) else None}
        values = rows["value"].astype("<f4")
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT s.v::text, count(*) {base} AND s.v IS NOT NULL GROUP BY 1 "
                           "ORDER BY 2 DESC, 1 LIMIT %s", [*params, COLOUR_CATEGORIES_MAX])
            labels = [label for label, _ in cursor.fetchall()]
        rows = _copy_rows(copy_out(f"SELECT p.ordinal, coalesce(array_position(%s::text[], s.v::text), 0)::int2 {base}",
                                    [labels, *params]), [("ordinal", ">i4"), ("value", ">i2")])
        meta = {"kind": "category", "labels": _labels_named(labels, target, name, organisation)}
        values = rows["value"].astype("<u2")
    header = json.dumps(meta).encode()
    return b"".join([np.array([len(header)], "<u4").tobytes(), header, np.array([len(rows)], "<u4").tobytes(),
                     rows["ordinal"].astype("<u4").tobytes(), values.tobytes()])


def _value_kind(expression, target: str, name: str) -> str:
    """``number``, ``datetime`` (coloured as numbers) or ``category``."""
    from django.db.models import DateTimeField, FloatField

    from apps.explorer.filters import builtin

    if target == "field":
        kind = builtin(name).type
        return kind if kind in ("number", "datetime") else "category"
    output = expression.output_field
    return "number" if isinstance(output, FloatField) else "datetime" if isinstance(output, DateTimeField) \
        else "category"


def _labels_named(labels: list[str], target: str, name: str, organisation) -> list[str]:
    """Folder ids shown as folder names (what a legend should say)."""
    if target != "field" or name != "folder":
        return labels
    from apps.storage.models import Folder

    names = dict(Folder.objects.filter(organisation_id=organisation.pk, pk__in=labels).values_list("pk", "name"))
    return [names.get(__import__("uuid").UUID(label), label) for label in labels]

