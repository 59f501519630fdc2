"""Key index maintenance during large loads: embedding ANN indexes here, the Explorer's through hooks.

Inserting vectors one by one into an HNSW graph costs about as much per vector as building the graph,
but a build runs in memory (``maintenance_work_mem``) with parallel workers while inserts touch disk
pages; likewise keeping the Explorer's per-key btrees and GIN index on ``storage_item`` up to date
during a 1M-entry load costs several times what building them afterwards does. So an import of at
least ``LOUPE_BULK_INDEX_THRESHOLD`` entries counts itself on every active key of the organisation
(``bulk_loads``) when it starts: the embedding keys' indexes are dropped, and the Explorer drops the
indexes of keys being loaded (hook ``key_indexes_set_aside``). When the last concurrent large load on
a key ends, its embedding index is rebuilt here (``CREATE INDEX CONCURRENTLY``, which does not block
writers) and the Explorer is told (hook ``key_indexes_changed``) to rebuild its own in a task.
Meanwhile searches still answer correctly, by scans. The counter lets overlapping loads share one
suspension; the job records which keys it counted, so a resumed job does not count them twice.

A rebuild asks the database for enough ``maintenance_work_mem`` to hold the whole graph (pgvector
otherwise finishes the build on disk pages, several times slower, after "hnsw graph no longer fits
into maintenance_work_mem"), up to ``LOUPE_ANN_BUILD_MEMORY_MB``, for its own session only.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, transaction

from apps.metadata.hooks import key_indexes_changed_on_commit, key_indexes_set_aside
from apps.metadata.models import Embedding, KeyState, KeyType, MetadataKey
from apps.metadata.vector_indexes import embedding_index, embedding_index_drop_sql, embedding_index_sql

logger = logging.getLogger(__name__)

# pgvector's build graph holds each value plus ~710 bytes (neighbour lists, element header): measured
# 2,765 bytes per 512-d vector. The headroom covers the upper layers and allocator slack.
HNSW_GRAPH_BYTES_PER_ELEMENT = 720
HNSW_GRAPH_HEADROOM = 1.25


def key_indexes_suspend(*, organisation_id) -> list[int]:
    """Set aside the indexes of the organisation's active keys (outside a transaction); return the key ids."""
    with transaction.atomic():
        keys = list(MetadataKey.objects.select_for_update().filter(
            organisation_id=organisation_id, state=KeyState.ACTIVE))
        for key in keys:
            if key.bulk_loads == 0 and key.type == KeyType.EMBEDDING:
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute(embedding_index_drop_sql(key))
            key.bulk_loads += 1
            key.save(update_fields=["bulk_loads", "updated_at"])
    if keys:
        key_indexes_set_aside(organisation_id)
    return [key.pk for key in keys]


def key_indexes_resume(*, key_ids: list[int]) -> dict[int, float]:
    """End one bulk load on these keys; rebuild each embedding index nobody else is loading (returns
    build seconds) and, once that is committed, have the Explorer rebuild its indexes in a task."""
    rebuild = []
    with transaction.atomic():
        for key in MetadataKey.objects.select_for_update().filter(pk__in=key_ids):
            key.bulk_loads = max(key.bulk_loads - 1, 0)
            key.save(update_fields=["bulk_loads", "updated_at"])
            if key.bulk_loads == 0:
                key_indexes_changed_on_commit(key.organisation_id)
                if key.state == KeyState.ACTIVE and key.type == KeyType.EMBEDDING:
                    rebuild.append(key)
    timings = {}
    for key in rebuild:
        started = time.perf_counter()
        sql = embedding_index_sql(key).replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY IF NOT EXISTS ", 1)
        with connection.cursor() as cursor, _build_memory(cursor, key):
            cursor.execute(sql)
        timings[key.pk] = time.perf_counter() - started
        logger.info("rebuilt the ANN index of embedding key %s in %.1f s", key.pk, timings[key.pk])
    return timings


def hnsw_graph_bytes(key, vectors: int) -> int:
    """What pgvector's in-memory build graph needs for ``vectors`` values of this key's index."""
    size = int(key.size)
    index = embedding_index(key)
    value_bytes = {"vector": 4 * size, "halfvec": 2 * size, "bit": (size + 7) // 8}[index.kind] + 8
    graph_bytes = HNSW_GRAPH_BYTES_PER_ELEMENT * index.m // 16  # the neighbour lists grow with m (measured at 16)
    return int(vectors * (value_bytes + graph_bytes) * HNSW_GRAPH_HEADROOM)


@contextmanager
def _build_memory(cursor, key):
    """Raise this session's ``maintenance_work_mem`` to what the key's graph needs, within the cap.

    pgvector's notices (a graph that still does not fit) are logged as warnings meanwhile.
    """
    cursor.execute(f"SELECT count(*) FROM {Embedding._meta.db_table} WHERE key_id = %s", [key.pk])
    wanted_kb = min(hnsw_graph_bytes(key, cursor.fetchone()[0]), settings.LOUPE_ANN_BUILD_MEMORY_MB * 2**20) // 1024
    cursor.execute("SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'")  # in kB
    raised = wanted_kb > cursor.fetchone()[0]
    if raised:
        cursor.execute(f"SET maintenance_work_mem = '{wanted_kb}kB'")
    raw = connection.connection

    def log_notice(diagnostic):
        logger.warning("building the ANN index of embedding key %s: %s", key.pk, diagnostic.message_primary)

    raw.add_notice_handler(log_notice)
    try:
        yield
    finally:
        raw.remove_notice_handler(log_notice)
        if raised:
            cursor.execute("RESET maintenance_work_mem")
