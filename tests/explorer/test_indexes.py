"""The compiler's leaves are the expressions of ``apps.explorer.indexes``: with those indexes in place
(created here; nothing creates them in Loupe yet) the planner answers ranges and sorts from them."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction

from apps.explorer.compiler import compile_filter
from apps.explorer.expression import parse_expression
from apps.explorer.indexes import key_index_name, key_index_statements
from apps.metadata.selectors import schema_for
from apps.storage.models import Item
from tests.explorer.fixtures import build


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(("expression", "key"), [
    ("score > 0.9", "score"),
    ("score between 0.1 and 0.2", "score"),
    ("captured >= '2026-11-20T00:00:00+01:00'", "captured"),
    ("site != 'Paris'", "site"),
    ("camera != 'cam1'", "camera"),
])
def test_a_typed_leaf_is_served_by_its_key_index(org, make_user, expression, key):
    admin = make_user(org, role="admin")
    build(org, admin)
    schema = schema_for(organisation_id=org.pk)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the fixture's deferred FK checks, before DDL
        for statement in key_index_statements(organisation_id=org.pk, spec=schema.spec(key)):
            cursor.execute(statement)
        cursor.execute("ANALYZE storage_item")
        cursor.execute("SET LOCAL enable_seqscan = off")  # 200 rows: the point is that the index applies
        queryset = Item.objects.filter(organisation_id=org.pk).filter(compile_filter(parse_expression(expression), schema))
        plan = _plan(queryset.values("pk"))
        transaction.set_rollback(True)
    name = key_index_name(organisation_id=org.pk, spec=schema.spec(key))
    assert re.search(rf"Index (Only )?Scan (using|on) {name}\b", plan), plan


def test_untyped_and_boolean_keys_get_no_btree(org, make_user):
    admin = make_user(org, role="admin")
    build(org, admin)
    schema = schema_for(organisation_id=org.pk)
    assert key_index_statements(organisation_id=org.pk, spec=schema.spec("night")) == []
    assert schema.spec("speed") is None
