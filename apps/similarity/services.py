"""Writes of projections: asking for one, computing it (the task's one service), marking them stale.

``projection_request`` is what the page's button, ``POST .../recompute`` and the after-import hook
call; it enqueues ``projection_compute_task`` on commit. ``projection_compute`` reads the key's
vectors, lays them out (``apps.similarity.projecting``) and replaces the points and the row's state in
one transaction: a crash before that commit leaves the previous points and a ``computing`` row that
the broker's redelivery (``acks_late``) or the next request runs again from the start.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from apps.metadata.models import Embedding, MetadataKey
from apps.similarity.models import Projection, ProjectionPoint, ProjectionStatus
from apps.similarity.selectors import embedding_fingerprint
from apps.storage.models import Item

logger = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=30)  # a computation this old with no end is taken as lost (its worker died)
POINT_COPY_ROWS = 100_000  # points packed per COPY write: ~3.6 MB
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = b"\xff\xff"


def projection_request(*, organisation, key: MetadataKey, force: bool = True) -> Projection:
    """Ask for the key's projection to be (re)computed; returns its row, now ``computing``.

    A computation already running (and not stuck) is not started twice. With ``force=False`` (the
    after-import path) a key that was never projected is left alone: maps are made on demand.
    """
    with transaction.atomic():
        projection = Projection.objects.select_for_update().filter(organisation_id=organisation.pk, key=key).first()
        if projection is None and not force:
            return None
        now = timezone.now()
        if projection is None:
            projection = Projection.objects.create(organisation_id=organisation.pk, key=key, requested_at=now)
        elif projection.status == ProjectionStatus.COMPUTING and projection.requested_at \
                and now - projection.requested_at < STUCK_AFTER:
            return projection
        else:
            projection.status, projection.progress, projection.error = ProjectionStatus.COMPUTING, 0.0, ""
            projection.requested_at = now
            projection.save(update_fields=["status", "progress", "error", "requested_at", "updated_at"])
        from apps.similarity.tasks import projection_compute_task

        pk = projection.pk
        transaction.on_commit(lambda: projection_compute_task.delay(pk))
    return projection


def projections_mark_stale(*, organisation_id) -> list[int]:
    """Mark the organisation's fresh projections whose vectors changed ``stale``; returns their ids
    (the caller recomputes them). Cheap when nothing changed: one fingerprint query per projection."""
    stale = []
    for projection in Projection.objects.filter(organisation_id=organisation_id, status=ProjectionStatus.FRESH):
        if projection.fingerprint != embedding_fingerprint(key_id=projection.key_id):
            updated = Projection.objects.filter(pk=projection.pk, status=ProjectionStatus.FRESH) \
                .update(status=ProjectionStatus.STALE, updated_at=timezone.now())
            if updated:
                stale.append(projection.pk)
    return stale


def projection_compute(*, projection_id: int, seed: int = 42) -> None:
    """Compute the projection's points from the key's item-level vectors of live items (idempotent:
    a fresh projection whose fingerprint still matches is left as it is)."""
    from apps.similarity.projecting import layout_compute

    projection = Projection.objects.filter(pk=projection_id).select_related("key").first()
    if projection is None:
        logger.info("projection %s is gone; nothing to compute", projection_id)
        return
    fingerprint = embedding_fingerprint(key_id=projection.key_id)  # before the read: a later write shows as stale
    if projection.status == ProjectionStatus.FRESH and projection.fingerprint == fingerprint:
        return
    Projection.objects.filter(pk=projection_id).update(status=ProjectionStatus.COMPUTING, started_at=timezone.now())
    try:
        items, vectors = _vectors_read(projection.key)
        layout = layout_compute(vectors, seed=seed, progress=lambda f: _progress_set(projection_id, f), overwrite=True)
        _points_write(projection_id, items, layout, fingerprint)
    except Exception as error:  # the page shows it; the worker log has the traceback
        logger.exception("projection %s failed", projection_id)
        Projection.objects.filter(pk=projection_id).update(status=ProjectionStatus.FAILED, error=str(error)[:2000])


def _progress_set(projection_id: int, fraction: float) -> None:
    Projection.objects.filter(pk=projection_id).update(progress=max(0.0, min(1.0, fraction)))


def _vectors_read(key: MetadataKey) -> tuple[np.ndarray, np.ndarray]:
    """(item uuids as 16-byte strings, float32 vectors), of live top-level items, in item uuid order
    (so the same vectors give the same ordinals and, with a seed, the same layout)."""
    from apps.similarity.selectors import copy_out

    size = int(key.size)
    sql = (f"SELECT e.item_id, e.vector FROM {Embedding._meta.db_table} e "
           f"JOIN {Item._meta.db_table} i ON i.uuid = e.item_id "
           "WHERE e.key_id = %s AND e.frame IS NULL AND i.deleted_at IS NULL AND i.parent_id IS NULL "
           "ORDER BY e.item_id")
    rows = _vector_rows(copy_out(sql, [key.pk]), size)
    return rows["item"], rows["values"].astype(np.float32)


def _vector_rows(data: bytes, size: int) -> np.ndarray:
    layout = np.dtype([("count", ">i2"), ("item_length", ">i4"), ("item", "S16"), ("vector_length", ">i4"),
                       ("dims", ">i2"), ("unused", ">i2"), ("values", ">f4", (size,))])
    return np.frombuffer(data[19:-2], dtype=layout)


def _points_write(projection_id: int, items: np.ndarray, layout, fingerprint: str) -> None:
    """Replace the points and mark the projection fresh, in one transaction (readers see old or new)."""
    table = ProjectionPoint._meta.db_table
    with transaction.atomic():
        locked = Projection.objects.select_for_update().filter(pk=projection_id).first()
        if locked is None:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE projection_id = %s", [projection_id])
        connection.ensure_connection()
        with connection.connection.cursor() as cursor, cursor.copy(
            f"COPY {table} (projection_id, ordinal, item_id, x, y) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.write(_COPY_SIGNATURE)
            for start in range(0, len(items), POINT_COPY_ROWS):
                copy.write(_point_rows(projection_id, start, items[start:start + POINT_COPY_ROWS],
                                       layout.xy[start:start + POINT_COPY_ROWS]))
            copy.write(_COPY_TRAILER)
        Projection.objects.filter(pk=projection_id).update(
            status=ProjectionStatus.FRESH, progress=1.0, error="", method=layout.method, params=layout.params,
            fingerprint=fingerprint, point_count=len(items), computed_at=timezone.now(), updated_at=timezone.now(),
        )
    with connection.cursor() as cursor:  # fresh statistics: the lasso's plan depends on the table's size
        cursor.execute(f"ANALYZE {table}")


def _point_rows(projection_id: int, start: int, items: np.ndarray, xy: np.ndarray) -> bytes:
    packed = np.empty(len(items), dtype=[
        ("count", ">i2"), ("projection_length", ">i4"), ("projection", ">i8"), ("ordinal_length", ">i4"),
        ("ordinal", ">i4"), ("item_length", ">i4"), ("item", "S16"), ("x_length", ">i4"), ("x", ">f4"),
        ("y_length", ">i4"), ("y", ">f4"),
    ])
    packed["count"] = 5
    packed["projection_length"], packed["projection"] = 8, projection_id
    packed["ordinal_length"], packed["ordinal"] = 4, np.arange(start, start + len(items))
    packed["item_length"], packed["item"] = 16, items
    packed["x_length"], packed["x"] = 4, xy[:, 0]
    packed["y_length"], packed["y"] = 4, xy[:, 1]
    return packed.tobytes()


def projections_refresh(*, organisation_id) -> list[int]:
    """Mark the organisation's projections whose vectors changed stale and recompute them (what runs
    after an import or a metadata write touched vectors); returns the ids asked for."""
    from apps.core.models import Organisation

    organisation = Organisation.objects.filter(pk=organisation_id).first()
    if organisation is None:
        return []
    stale = projections_mark_stale(organisation_id=organisation_id)
    for projection in Projection.objects.filter(pk__in=stale).select_related("key"):
        projection_request(organisation=organisation, key=projection.key)
    return stale
