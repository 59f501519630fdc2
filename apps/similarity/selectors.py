"""Reads of projections: the one a key has and its status as a caller sees it; the keys "more like this"
can start from on an item. The points a user may see are read by ``apps.explorer.selectors_map``
(which applies the Explorer's scope: this app sits below the Explorer).
"""

from __future__ import annotations

from django.db import connection
from django.http import Http404

from apps.metadata.models import Embedding, KeyState, KeyType, MetadataKey
from apps.similarity.models import Projection, ProjectionStatus


def projection_key(*, organisation, name: str) -> MetadataKey:
    """The organisation's active embedding key called ``name`` (404 otherwise)."""
    key = MetadataKey.objects.filter(organisation_id=organisation.pk, name=name, state="active").first()
    if key is None or key.type != "embedding":
        raise Http404("No embedding key of that name.")
    return key


def projection_for(*, organisation, key: MetadataKey) -> Projection | None:
    return Projection.objects.filter(organisation_id=organisation.pk, key_id=key.pk).first()


def embedding_fingerprint(*, key_id: int) -> str:
    """The key's item-level vectors now, as ``count:max id`` (writes replace rows, so any change shows)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {Embedding._meta.db_table} "
                       "WHERE key_id = %s AND frame IS NULL", [key_id])
        count, top = cursor.fetchone()
    return f"{count}:{top}"


def projection_state(projection: Projection | None) -> dict:
    """What the page and ``GET .../status`` show: ``status`` is ``stale`` for a fresh projection whose
    vectors changed since (``none`` when the key was never projected)."""
    if projection is None:
        return {"status": "none", "progress": 0.0, "point_count": 0, "computed_at": None, "method": "",
                "params": {}, "error": ""}
    status = projection.status
    if status == ProjectionStatus.FRESH and projection.fingerprint != embedding_fingerprint(key_id=projection.key_id):
        status = ProjectionStatus.STALE
    return {"status": status, "progress": round(projection.progress, 3), "point_count": projection.point_count,
            "computed_at": projection.computed_at.isoformat() if projection.computed_at else None,
            "method": projection.method, "params": projection.params, "error": projection.error}


def copy_out(sql: str, params: list) -> bytes:
    """The rows of ``sql`` in PostgreSQL's binary COPY format (the fastest way out of the server)."""
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        statement = cursor.mogrify(sql, params)  # COPY takes no bind parameters: psycopg quotes them here
        with cursor.copy(f"COPY ({statement}) TO STDOUT (FORMAT BINARY)") as copy:
            return b"".join(bytes(block) for block in copy)


def item_similar_keys(*, item) -> list[str]:
    """The names of the active embedding keys ``item`` holds an item-level vector for, by name: the
    keys "more like this" can start from on this item."""
    return list(Embedding.objects.filter(item=item, frame__isnull=True, key__state=KeyState.ACTIVE,
                                         key__type=KeyType.EMBEDDING)
                .order_by("key__name").values_list("key__name", flat=True))
