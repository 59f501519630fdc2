"""The lasso leaf of the Explorer's filter tree: the items whose point on an embedding key's 2-D
projection lies inside a polygon, ``{"projection": {"key": "clip", "polygon": [[x, y], ...]}}``.

Compiled (``apps.explorer.compiler`` calls ``projection_leaf_sql``) to an ``EXISTS`` over the points
table, which PostgreSQL turns into a semi-join: the polygon's bounding box is a range on the
``(projection, x, y)`` index, and PostgreSQL's own ``polygon @> point`` decides the rest (a point on
the edge is inside). Coordinates are the projection's own ([-1, 1], as the map draws them); the leaf
matches the points of the projection as it is now, so a recomputed map may move items out of an old
lasso (a saved view keeps the polygon, not a list of items).
"""

from __future__ import annotations

from apps.explorer.filters import Leaf, refuse_at
from apps.metadata.models import MetadataKey
from apps.metadata.validation import Schema
from apps.similarity.models import Projection, ProjectionPoint


def projection_leaf_sql(leaf: Leaf, schema: Schema) -> tuple[str, list]:
    """SQL over ``{pk}``/``{org}`` of the item row: true when its point is inside ``leaf.value``."""
    spec = schema.spec(leaf.name)
    if spec is None or spec.type != "embedding":
        refuse_at(leaf, f'A lasso is drawn on the projection of an embedding key; "{leaf.name}" is '
                        f'{"not declared" if spec is None else spec.type}.')
    xs = [x for x, _ in leaf.value]
    ys = [y for _, y in leaf.value]
    polygon = "(" + ",".join(f"({x!r},{y!r})" for x, y in leaf.value) + ")"
    sql = (f"EXISTS (SELECT 1 FROM {ProjectionPoint._meta.db_table} lasso_p "
           f"JOIN {Projection._meta.db_table} lasso_j ON lasso_j.id = lasso_p.projection_id "
           f"JOIN {MetadataKey._meta.db_table} lasso_k ON lasso_k.id = lasso_j.key_id "
           "WHERE lasso_j.organisation_id = {org} AND lasso_k.name = %s AND lasso_p.item_id = {pk} "
           "AND lasso_p.x BETWEEN %s AND %s AND lasso_p.y BETWEEN %s AND %s "
           "AND %s::polygon @> point(lasso_p.x, lasso_p.y))")
    # real bounds widened a hair: a float8 vertex compared with a float4 column must not drop an edge point
    return sql, [leaf.name, min(xs) - 1e-6, max(xs) + 1e-6, min(ys) - 1e-6, max(ys) + 1e-6, polygon]
