"""Counts that never block: the planner's estimate against the truth on 2,000 items, the strategy's
exact/estimate choice and its time limit, and ``POST /api/v1/explore/count`` over HTTP."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.explorer.counting import (
    EXACT_COUNT_BELOW, CountAnswer, explore_count_answer, explore_count_estimate, queryset_count_within,
)
from apps.explorer.expression import parse_expression
from apps.explorer.indexes import key_index_statements
from apps.explorer.selectors import explore_count
from apps.explorer.sql import Sql
from apps.metadata.selectors import schema_for
from apps.storage.models import FolderRole, Item
from apps.storage.services.folders import folder_member_set
from tests.explorer.fixtures import build
from tests.explorer.test_search_api import search_all, world  # noqa: F401 (world: the shared 200-item fixture)
from tests.factories import OrganisationFactory

URL = "/api/v1/explore/count"
ROWS = 2000


@pytest.fixture
def big(db, org, make_user):
    """2,000 items over folders a, b and a/sub, a viewer granted a, and fresh planner statistics."""
    admin = make_user(org, role="admin")
    viewer = make_user(org, role="member", email="viewer@example.com")
    folder_a, _, sub, items = build(org, admin, count=ROWS)
    folder_member_set(user=admin, folder=folder_a, member=viewer, role=FolderRole.VIEWER)
    with connection.cursor() as cursor:
        # The statistics the schema's index sync creates (apps.explorer.indexes), which the typed leaves'
        # estimates rely on; then what autovacuum does on a live server (a test's rows are too new for it).
        for spec in schema_for(organisation_id=org.pk).keys.values():
            for statement in key_index_statements(organisation_id=org.pk, spec=spec)[1:]:
                cursor.execute(statement)
        cursor.execute("ANALYZE storage_item, storage_folder, storage_foldermember, core_organisationmember, core_user")
    return {"org": org, "admin": admin, "viewer": viewer, "a": folder_a, "sub": sub, "items": items}


# The planner has statistics for these (columns, JSONB containment, the typed values of declared keys,
# the instant function over a datetime key): its estimate is within a factor of 3 of the truth.
ESTIMATED = [None, "$width >= 840", "$type = 'video'", "camera = 'cam3'", "night",
             "captured > '2026-11-20T00:00:00Z'"]


def test_the_estimate_is_within_a_factor_of_three_of_the_truth(big):
    checked = []
    for q in ESTIMATED:
        for who in ("admin", "viewer"):
            for folder in (None, big["a"]):
                scope = {"user": big[who], "organisation": big["org"], "scope_folder": folder,
                         "tree": parse_expression(q) if q else None}
                truth, estimate = explore_count(**scope), explore_count_estimate(**scope)
                assert truth > 100
                checked.append((q, who, folder is not None, truth / 3 <= estimate <= truth * 3, estimate, truth))
    assert [c for c in checked if not c[3]] == []
    assert len(checked) == 24


def test_a_cheap_count_is_exact_whatever_the_planner_guesses(big):
    """Under the threshold the answer is the exact count, not the planner's estimate (a number range over
    JSONB is estimated from the guard's selectivity: here about half the truth)."""
    scope = {"user": big["admin"], "organisation": big["org"], "tree": parse_expression("score > 0.5")}
    truth = sum(1 for i in big["items"] if isinstance(i.client_metadata.get("score"), float)
                and i.client_metadata["score"] > 0.5)
    assert explore_count_estimate(**scope) != truth
    assert explore_count_answer(**scope) == CountAnswer(truth, True)
    assert explore_count_answer(user=big["admin"], organisation=big["org"]) == CountAnswer(ROWS, True)
    granted = sum(1 for i in big["items"] if i.folder_id in (big["a"].pk, big["sub"].pk))
    assert explore_count_answer(user=big["viewer"], organisation=big["org"]) == CountAnswer(granted, True)


def test_above_the_threshold_the_estimate_is_answered_as_not_exact(big):
    scope = {"user": big["admin"], "organisation": big["org"], "tree": parse_expression("camera = 'cam3'")}
    estimate = explore_count_estimate(**scope)
    assert explore_count_answer(**scope, exact_below=estimate) == CountAnswer(estimate, False)
    assert explore_count_answer(**scope, exact_below=estimate + 1) == CountAnswer(explore_count(**scope), True)
    assert estimate != explore_count(**scope)
    assert EXACT_COUNT_BELOW == 200_000


def test_a_count_past_its_time_limit_gives_up_and_leaves_the_transaction_usable(big):
    """The exact count runs under a local statement_timeout in a savepoint: past it the strategy falls
    back to the estimate, and the caller's transaction, with its own timeout, carries on."""
    slow = Item.objects.filter(organisation=big["org"]).filter(Sql("(SELECT true FROM pg_sleep(0.2))"))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = '45s'")
    assert queryset_count_within(slow, timeout_ms=20) is None
    assert queryset_count_within(slow, timeout_ms=5_000) == ROWS
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "45s"
    assert Item.objects.filter(organisation=big["org"]).count() == ROWS


# --------------------------------------------------------------------------- POST /api/v1/explore/count


def test_the_count_door_answers_the_exact_count_of_a_search(world):
    for body in ({}, {"q": 'camera in ("cam3","cam4") and score > 0.5'},
                 {"filter": {"key": "night", "op": "eq", "value": False}, "scope": {"folder": str(world["a"].pk)}}):
        _, searched, _ = search_all(world["api"], body, page_size=200)
        answer = world["api"].post(URL, json=body)
        assert answer.status_code == 200 and answer.json() == {"count": searched, "count_exact": True}
    assert world["api"].post(URL, json={}).json()["count"] == 200


def test_the_count_door_counts_only_what_the_caller_may_see(world):
    viewer = world["make_user"](world["org"], role="member", email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=viewer, role=FolderRole.VIEWER)
    granted = sum(1 for i in world["items"] if i.folder_id in (world["a"].pk, world["sub"].pk))
    viewer_api = world["api_for"](viewer)
    assert viewer_api.post(URL, json={}).json() == {"count": granted, "count_exact": True}
    assert viewer_api.post(URL, json={"scope": {"folder": str(world["b"].pk)}}).status_code == 404
    outsider = world["make_user"](OrganisationFactory(name="Other"), role="admin", email="out@example.com")
    assert world["api_for"](outsider).post(URL, json={}).json() == {"count": 0, "count_exact": True}


@pytest.mark.parametrize(("body", "answer"), [
    ({"keys": ["camera"]}, {"keys": ["Unknown member."]}),
    ({"page_size": 5}, {"page_size": ["Unknown member."]}),
    ({"q": "score > 'high'"}, {"q": ['At position 0: "gt" on key "score" compares numbers; got "high".']}),
    ({"filter": {"field": "colour", "op": "eq", "value": 1}}, {"filter": [
        'Unknown built-in field "colour": one of type, folder, name, status, created, file_size, width, height, '
        "duration, fps, duplicate."]}),
    ([], {"detail": ["The body is a JSON object."]}),
])
def test_count_refusals_are_400s_naming_the_place(world, body, answer):
    response = world["api"].post(URL, json=body)
    assert response.status_code == 400 and response.json() == answer
