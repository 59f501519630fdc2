"""ANN index maintenance during large loads.

Inserting vectors one by one into an HNSW graph costs about as much per vector as building the graph,
but a build runs in memory (``maintenance_work_mem``) with parallel workers while inserts touch disk
pages. So an import of at least ``LOUPE_BULK_INDEX_THRESHOLD`` entries drops the organisation's
embedding-key indexes when it starts and rebuilds each one (``CREATE INDEX CONCURRENTLY``, which does
not block writers) when the last concurrent large load ends. Meanwhile similarity search on those
keys still answers correctly, by exact scan. A counter per key (``bulk_loads``) lets overlapping
loads share one suspension; the job records which keys it counted, so a resumed job does not count
them twice.
"""

from __future__ import annotations

import logging
import time

from django.db import connection, transaction

from apps.metadata.models import KeyState, MetadataKey
from apps.metadata.vector_indexes import embedding_index_drop_sql, embedding_index_sql

logger = logging.getLogger(__name__)


def embedding_indexes_suspend(*, organisation_id) -> list[int]:
    """Set aside the ANN indexes of the organisation's active embedding keys; return the key ids."""
    with transaction.atomic():
        keys = list(MetadataKey.objects.select_for_update().filter(
            organisation_id=organisation_id, type="embedding", state=KeyState.ACTIVE))
        for key in keys:
            if key.bulk_loads == 0:
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(embedding_index_drop_sql(key))
            key.bulk_loads += 1
            key.save(update_fields=["bulk_loads", "updated_at"])
    return [key.pk for key in keys]


def embedding_indexes_resume(*, key_ids: list[int]) -> dict[int, float]:
    """End one bulk load on these keys; rebuild each index nobody else is loading. Returns build seconds."""
    rebuild = []
    with transaction.atomic():
        for key in MetadataKey.objects.select_for_update().filter(pk__in=key_ids):
            key.bulk_loads = max(key.bulk_loads - 1, 0)
            key.save(update_fields=["bulk_loads", "updated_at"])
            if key.bulk_loads == 0 and key.state == KeyState.ACTIVE:
                rebuild.append(key)
    timings = {}
    for key in rebuild:
        started = time.perf_counter()
        sql = embedding_index_sql(key).replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY IF NOT EXISTS ", 1)
        with connection.cursor() as cursor:
            cursor.execute(sql)
        timings[key.pk] = time.perf_counter() - started
        logger.info("rebuilt the ANN index of embedding key %s in %.1f s", key.pk, timings[key.pk])
    return timings
