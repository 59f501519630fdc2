"""Loupe creates and drops the Explorer's indexes itself (``apps.explorer.indexes``): declaring keys
builds them in a task run by a real worker, re-typing and deleting drop them, a large load sets them
aside; and the planner answers the compiler's leaves and the Explorer's sorts from them (``EXPLAIN``)."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.explorer.expression import parse_expression
from apps.explorer.indexes import (
    containment_index_name, created_index_name, key_index_name, key_index_statements, key_indexes_sync,
    key_indexes_wanted, key_statistics_name, name_index_name, organisation_index_prefix, sync_lock_take,
)
from apps.explorer.selectors import explore_items, explore_queryset, sort_from_json
from apps.metadata.models import MetadataKey
from apps.metadata.selectors import schema_for
from apps.metadata.services.bulk_load import key_indexes_resume, key_indexes_suspend
from apps.metadata.services.schema import schema_key_retype, schema_key_soft_delete
from apps.metadata.validation import KeySpec
from tests.explorer.fixtures import build

pytestmark = pytest.mark.django_db(transaction=True)


def _index_names(org) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
                       "WHERE c.relname LIKE %s AND i.indisvalid", [organisation_index_prefix(org.pk) + "%"])
        return {row[0] for row in cursor.fetchall()}


def _statistics_names(org) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE %s",
                       [organisation_index_prefix(org.pk) + "%"])
        return {row[0] for row in cursor.fetchall()}


def _wait_for_indexes(org, expected: set[str], timeout: float = 300) -> set[str]:
    """The organisation's valid indexes once they are ``expected`` (or the timeout passed) and the sync
    that built them has finished (statistics and ANALYZE come after the indexes, under its lock)."""
    deadline = time.monotonic() + timeout
    while (names := _index_names(org)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    with _sync_lock(org):
        return names


def _wait_for_queue_drained(timeout: float = 30) -> None:
    from django.conf import settings

    from config.celery import app

    deadline = time.monotonic() + timeout
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        # Queued, or taken by the worker but not started yet (kombu keeps those in its "unacked" hash):
        # either would build during the flush that follows.
        while (client.llen(settings.CELERY_TASK_DEFAULT_QUEUE) or client.hlen("unacked")) \
                and time.monotonic() < deadline:
            time.sleep(0.1)


@contextmanager
def _sync_lock(org):
    """The advisory lock a sync holds from start to end: no sync of ``org`` runs while it is held."""
    prefix = organisation_index_prefix(org.pk)
    with connection.cursor() as cursor:
        sync_lock_take(cursor, prefix)  # trying, not waiting: a wait would deadlock with a concurrent build
        try:
            yield cursor
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [prefix])


def _key(org, name: str, type_name: str) -> str:
    return key_index_name(organisation_id=org.pk, spec=KeySpec(name=name, type=type_name))


def _all_indexes(org) -> set[str]:
    """What the fixture's schema wants: camera, score, captured, site btrees and the three organisation-wide."""
    return {_key(org, "camera", "enum"), _key(org, "score", "number"), _key(org, "captured", "datetime"),
            _key(org, "site", "varchar"), containment_index_name(org.pk), created_index_name(org.pk),
            name_index_name(org.pk)}


def _plan(sql: str, params) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # 200 rows: the point is which index applies
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


@pytest.fixture
def indexed(org, make_user, celery_worker_process, settings):
    """The 200-item fixture, its schema declared through the schema service, its indexes built by the
    worker's task after the declarations committed, and fresh planner statistics."""
    settings.LOUPE_EXPLORER_INDEXES = True  # off for the rest of the suite (config/settings/test.py)
    admin = make_user(org, role="admin")
    build(org, admin)
    assert _wait_for_indexes(org, _all_indexes(org)) == _all_indexes(org)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE storage_item")
    yield {"org": org, "admin": admin}
    _wait_for_queue_drained()  # a sync still queued would build during the flush that follows (a deadlock)
    with _sync_lock(org) as cursor:  # DDL outlives the flush between tests: later tests' writes skip them
        for name in _index_names(org):
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        for name in _statistics_names(org):
            cursor.execute(f"DROP STATISTICS IF EXISTS {name}")


@pytest.mark.parametrize(("expression", "key", "type_name"), [
    ("camera = 'cam3'", "camera", "enum"),
    ("camera in ('cam1', 'cam4')", "camera", "enum"),
    ("score between 0.1 and 0.2", "score", "number"),
    ("captured >= '2026-11-20T00:00:00+01:00' and captured < '2026-11-25'", "captured", "datetime"),
    ("site prefix 'Ber'", "site", "varchar"),
])
def test_a_typed_leaf_is_answered_from_its_key_index(indexed, expression, key, type_name):
    org = indexed["org"]
    items = explore_queryset(user=indexed["admin"], organisation=org, tree=parse_expression(expression))
    plan = _plan(*items.order_by().values("pk").query.sql_with_params())
    assert re.search(rf"Index (Only )?Scan (Backward )?(using|on) {_key(org, key, type_name)}\b", plan), plan


def test_a_name_prefix_over_the_organisation_is_answered_from_the_name_index(indexed):
    org = indexed["org"]
    items = explore_queryset(user=indexed["admin"], organisation=org, tree=parse_expression("$name prefix 'frame-01'"))
    plan = _plan(*items.order_by().values("pk").query.sql_with_params())
    assert re.search(rf"Index (Only )?Scan (using|on) {name_index_name(org.pk)}\b", plan), plan


@pytest.mark.parametrize("expression", ["speed = 42", "not night and speed = 'x'"])
def test_boolean_and_undeclared_equality_are_answered_from_the_containment_index(indexed, expression):
    org = indexed["org"]
    items = explore_queryset(user=indexed["admin"], organisation=org, tree=parse_expression(expression))
    plan = _plan(*items.order_by().values("pk").query.sql_with_params())
    assert f"Bitmap Index Scan on {containment_index_name(org.pk)}" in plan, plan


@pytest.mark.parametrize(("sort", "index"), [
    ([{"key": "score", "desc": True}], lambda org: _key(org, "score", "number")),
    ([{"key": "score"}], lambda org: _key(org, "score", "number")),
    ([{"field": "created", "desc": True}], lambda org: created_index_name(org.pk)),
])
def test_a_first_page_sorted_by_a_number_key_or_created_reads_its_index_in_order(indexed, sort, index):
    """The page query itself (LIMIT 101, the scope's folders, NULLs of the key read as a second part only
    when the first leaves the page short): an ordered index scan, no sort of every match."""
    org = indexed["org"]
    with CaptureQueriesContext(connection) as captured:
        page = explore_items(user=indexed["admin"], organisation=org, sort=sort_from_json(sort), page_size=20)
    assert len(page.rows) == 20
    # The page query (the page's folders follow it as a second, prefetch query).
    page_query, = [q["sql"] for q in captured.captured_queries if 'FROM "storage_item"' in q["sql"]]
    assert "LIMIT 21" in page_query
    plan = _plan(page_query, None)
    direction = "Backward " if sort[0].get("desc") else ""
    assert re.search(rf"Index Scan {direction}using {index(org)}\b", plan), plan
    assert not re.search(r"^\s*->\s+Sort ", plan, re.M), plan


def test_retyping_and_deleting_keys_drop_their_indexes_and_build_the_new_ones(indexed):
    org, admin = indexed["org"], indexed["admin"]
    score = MetadataKey.objects.get(organisation=org, name="score")
    schema_key_retype(user=admin, key=score, new_type="varchar")
    schema_key_soft_delete(user=admin, key=MetadataKey.objects.get(organisation=org, name="camera"))
    expected = (_all_indexes(org) - {_key(org, "score", "number"), _key(org, "camera", "enum")}) \
        | {_key(org, "score", "varchar")}
    assert _wait_for_indexes(org, expected) == expected
    spec = KeySpec(name="score", type="varchar")
    assert key_statistics_name(organisation_id=org.pk, spec=spec) in _statistics_names(org)
    assert key_statistics_name(organisation_id=org.pk, spec=KeySpec(name="camera", type="enum")) \
        not in _statistics_names(org)


def test_a_large_load_sets_the_indexes_aside_and_they_come_back_after_it(indexed):
    org = indexed["org"]
    statistics = _statistics_names(org)
    key_ids = key_indexes_suspend(organisation_id=org.pk)
    assert _index_names(org) == set()  # dropped before the load writes, synchronously
    assert _statistics_names(org) == statistics  # they cost no write: kept
    assert key_indexes_sync(organisation_id=org.pk).created == []  # nothing wanted during the load

    key_indexes_resume(key_ids=key_ids)  # the last load on these keys ended: the worker rebuilds them
    assert _wait_for_indexes(org, _all_indexes(org)) == _all_indexes(org)
    assert MetadataKey.objects.filter(organisation=org, bulk_loads=0).count() == 5


def test_a_sync_is_idempotent_and_refuses_to_run_inside_a_transaction(indexed):
    org = indexed["org"]
    again = key_indexes_sync(organisation_id=org.pk)
    assert (again.created, again.dropped) == ([], [])
    with transaction.atomic(), pytest.raises(RuntimeError, match="outside a transaction"):
        key_indexes_sync(organisation_id=org.pk)
    assert set(key_indexes_wanted(org.pk).indexes) == _all_indexes(org)


def test_untyped_and_boolean_keys_get_no_btree(org, make_user):
    admin = make_user(org, role="admin")
    build(org, admin, count=3)
    schema = schema_for(organisation_id=org.pk)
    assert key_index_statements(organisation_id=org.pk, spec=schema.spec("night")) == []
    assert schema.spec("speed") is None


def test_two_syncs_at_once_both_finish_without_a_deadlock(indexed):
    """A sync building concurrently waits for every older transaction, so a second sync must not sit in
    a blocking lock wait meanwhile (PostgreSQL killed one of the two as a deadlock, and the schema change
    that queued it was never indexed)."""
    import threading

    from django.db import connections

    org = indexed["org"]
    with _sync_lock(org) as cursor:
        for name in _index_names(org):
            cursor.execute(f"DROP INDEX {name}")
    results, errors = [], []

    def sync():
        try:
            results.append(key_indexes_sync(organisation_id=org.pk))
        except Exception as exc:  # noqa: BLE001 (the assertion below shows it)
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    assert sorted(len(result.created) for result in results) == [0, len(_all_indexes(org))]
    assert _index_names(org) == _all_indexes(org)
