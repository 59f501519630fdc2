"""The database Loupe runs on: PostgreSQL with pgvector, HNSW indexes, tuned settings."""

from __future__ import annotations

import pytest
from django.db import connection

from config.embedded import GiB, postgres_tuning


def test_vector_extension_is_installed(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
    major, minor = (int(part) for part in version.split(".")[:2])
    assert (major, minor) >= (0, 8)


def test_hnsw_index_is_built_and_used(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE probe (id int PRIMARY KEY, v vector(3))")
        cursor.execute(
            "INSERT INTO probe SELECT i, ARRAY[cos(i), sin(i), i / 1000.0]::vector FROM generate_series(1, 2000) i"
        )
        cursor.execute("CREATE INDEX probe_hnsw ON probe USING hnsw (v vector_cosine_ops)")
        cursor.execute("ANALYZE probe")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM probe ORDER BY v <=> '[1,0,0.001]' LIMIT 5")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT id FROM probe ORDER BY v <=> '[1,0,0.001]' LIMIT 1")
        (nearest,) = cursor.fetchone()
    assert "Index Scan using probe_hnsw" in plan
    # Exact cosine nearest, computed by hand: i = 44 (44 ≈ 7·2π, so cos ≈ 1, sin ≈ 0, small z).
    assert nearest == 44


@pytest.mark.parametrize("memory, cpus, expected", [
    (24 * GiB, 2, {"shared_buffers": "6144MB", "maintenance_work_mem": "3072MB",
                   "max_parallel_workers": "2", "max_parallel_maintenance_workers": "1"}),
    (64 * GiB, 16, {"shared_buffers": "8192MB", "maintenance_work_mem": "4096MB",
                    "max_parallel_workers": "16", "max_parallel_maintenance_workers": "15"}),
    (1 * GiB, 1, {"shared_buffers": "256MB", "maintenance_work_mem": "256MB",
                  "max_parallel_workers": "2", "max_parallel_maintenance_workers": "1"}),
])
def test_tuning_scales_with_the_machine(memory, cpus, expected):
    tuning = postgres_tuning(total_memory=memory, cpus=cpus)
    assert {key: tuning[key] for key in expected} == expected
