"""``POST /api/v1/explore/search`` over real HTTP and a realistic fixture (200 items, three folders,
missing and mistyped values), every answer checked against the set and order Python computes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from apps.storage.models import FolderRole
from apps.storage.services.folders import folder_member_set
from tests.explorer.fixtures import build
from tests.factories import OrganisationFactory

URL = "/api/v1/explore/search"


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    admin = make_user(org, role="admin")
    folder_a, folder_b, sub, items = build(org, admin)
    return {"admin": admin, "a": folder_a, "b": folder_b, "sub": sub, "items": items, "api": api_for(admin),
            "api_for": api_for, "org": org, "make_user": make_user}


def number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def instant(value):
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return parsed if parsed is None or parsed.tzinfo else parsed.replace(tzinfo=UTC)


def search_all(api, body: dict, page_size: int = 7) -> tuple[list[dict], int, int]:
    """Every result, following next_page_token to the end: (results, count, pages)."""
    results, token, pages = [], None, 0
    while True:
        answer = api.post(URL, json={**body, "page_size": page_size, "page_token": token})
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["count_exact"] is True
        results += data["results"]
        pages += 1
        token = data["next_page_token"]
        if token is None:
            return results, data["count"], pages


CASES = {
    "issue example": (
        {"q": 'camera in ("cam3","cam4") and score > 0.5 and not night'},
        lambda m: m.get("camera") in ("cam3", "cam4") and number(m.get("score")) and m["score"] > 0.5
        and m.get("night") is not True),
    "json tree": (
        {"filter": {"or": [{"key": "site", "op": "prefix", "value": "Berlin"},
                           {"and": [{"key": "speed", "op": "gte", "value": 60}, {"field": "type", "op": "eq", "value": "video"}]}]}},
        lambda m, i: (isinstance(m.get("site"), str) and m["site"].startswith("Berlin"))
        or (number(m.get("speed")) and m["speed"] >= 60 and i.item_type == "video")),
    "datetime instants": (
        {"filter": {"key": "captured", "op": "between", "value": ["2026-11-05T00:00:00+01:00", "2026-11-12T12:00:00Z"]}},
        lambda m: instant(m.get("captured")) is not None
        and instant("2026-11-05T00:00:00+01:00") <= instant(m["captured"]) <= instant("2026-11-12T12:00:00Z")),
    "not with missing keys": (
        {"q": "not camera = 'cam3'"}, lambda m: m.get("camera") != "cam3"),
    "undeclared contains and width missing": (
        {"q": "speed contains 'KM' or $width missing"},
        lambda m, i: (isinstance(m.get("speed"), str) and "km" in m["speed"].lower()) or i.width is None),
    "both tree and expression": (
        {"filter": {"key": "night", "op": "eq", "value": False}, "q": "score <= 0.3"},
        lambda m: m.get("night") is False and number(m.get("score")) and m["score"] <= 0.3),
}


def _expected(world, rule) -> set[str]:
    takes_item = rule.__code__.co_argcount == 2
    return {str(i.pk) for i in world["items"]
            if (rule(i.client_metadata, i) if takes_item else rule(i.client_metadata))}


@pytest.mark.parametrize("case", list(CASES))
def test_filters_match_the_python_computed_sets_and_page_through_each_item_once(world, case):
    body, rule = CASES[case]
    results, count, pages = search_all(world["api"], body)
    uuids = [r["uuid"] for r in results]
    expected = _expected(world, rule)
    assert len(uuids) == len(set(uuids)) == count == len(expected)
    assert set(uuids) == expected
    assert pages == max(1, -(-count // 7))
    assert 0 < count < 200


def _sort_order(world, value_of, *, desc: bool) -> list[str]:
    present = [(value_of(i), i.pk) for i in world["items"] if value_of(i) is not None]
    missing = [i.pk for i in world["items"] if value_of(i) is None]
    return [str(pk) for _, pk in sorted(present, reverse=desc)] + [str(pk) for pk in sorted(missing, reverse=desc)]


SORTS = {
    "score": ({"key": "score"}, lambda i: i.client_metadata.get("score") if number(i.client_metadata.get("score")) else None),
    "captured": ({"key": "captured"}, lambda i: instant(i.client_metadata.get("captured"))),
    "camera": ({"key": "camera"}, lambda i: i.client_metadata.get("camera")),
    "night": ({"key": "night"}, lambda i: i.client_metadata.get("night")),
    "width": ({"field": "width"}, lambda i: i.width),
    "name": ({"field": "name"}, lambda i: i.name),
}


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("sort", list(SORTS))
def test_sort_either_direction_with_missing_last_and_the_uuid_breaking_ties(world, sort, desc):
    spec, value_of = SORTS[sort]
    results, count, _ = search_all(world["api"], {"sort": [{**spec, "desc": desc}]}, page_size=33)
    assert count == 200
    assert [r["uuid"] for r in results] == _sort_order(world, value_of, desc=desc)


def test_two_sort_keys(world):
    results, _, _ = search_all(world["api"], {"sort": [{"key": "camera"}, {"key": "score", "desc": True}],
                                              "q": "camera exists and score exists"}, page_size=9)
    items = {str(i.pk): i.client_metadata for i in world["items"]}
    pairs = [(items[r["uuid"]]["camera"], items[r["uuid"]]["score"]) for r in results]
    numeric = [p for p in pairs if number(p[1])]
    assert numeric == sorted(numeric, key=lambda p: (p[0], -p[1]))


def test_the_answer_shape(world):
    item = next(i for i in world["items"] if i.client_metadata.get("site"))
    answer = world["api"].post(URL, json={"filter": {"field": "name", "op": "eq", "value": item.name}})
    assert answer.status_code == 200
    assert answer.json() == {"count": 1, "count_exact": True, "next_page_token": None, "results": [{
        "uuid": str(item.pk), "name": item.name, "type": item.item_type, "folder": str(item.folder_id),
        "status": "ready", "created_at": answer.json()["results"][0]["created_at"], "width": item.width,
        "height": 480, "duration": None, "fps": None, "file_size": None, "metadata": item.client_metadata,
        "thumbnail_url": None}]}


def test_scope_folder_recursive_or_not(world):
    a, sub = world["a"], world["sub"]
    in_a = {str(i.pk) for i in world["items"] if i.folder_id == a.pk}
    in_sub = {str(i.pk) for i in world["items"] if i.folder_id == sub.pk}
    results, _, _ = search_all(world["api"], {"scope": {"folder": str(a.pk)}}, page_size=50)
    assert {r["uuid"] for r in results} == in_a | in_sub
    results, _, _ = search_all(world["api"], {"scope": {"folder": str(a.pk), "recursive": False}}, page_size=50)
    assert {r["uuid"] for r in results} == in_a


def test_viewer_sees_only_granted_folders_outsider_nothing_org_admin_everything(world):
    org, make_user = world["org"], world["make_user"]
    viewer = make_user(org, role="member", email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=viewer, role=FolderRole.VIEWER)
    viewer_api = world["api_for"](viewer)
    granted = {str(i.pk) for i in world["items"] if i.folder_id in (world["a"].pk, world["sub"].pk)}
    results, count, _ = search_all(viewer_api, {}, page_size=100)
    assert {r["uuid"] for r in results} == granted and count == len(granted)
    hidden = viewer_api.post(URL, json={"scope": {"folder": str(world["b"].pk)}})
    assert hidden.status_code == 404 and hidden.json() == {"detail": "No such folder."}

    member = make_user(org, role="member", email="nobody@example.com")
    assert world["api_for"](member).post(URL, json={}).json()["count"] == 0

    outsider = make_user(OrganisationFactory(name="Other"), role="admin", email="out@example.com")
    outsider_api = world["api_for"](outsider)
    assert outsider_api.post(URL, json={}).json() == {"count": 0, "count_exact": True, "results": [],
                                                        "next_page_token": None}
    assert outsider_api.post(URL, json={"scope": {"folder": str(world["a"].pk)}}).status_code == 404
    other_org = outsider_api.post(URL + f"?organisation={org.pk}", json={})
    assert other_org.status_code == 400 and other_org.json() == {"organisation": ["Unknown organisation."]}

    assert world["api"].post(URL, json={}).json()["count"] == 200


@pytest.mark.parametrize(("body", "answer"), [
    ({"filter": {"and": [{"key": "score", "op": "exists"}, {"key": "score", "op": "prefix", "value": "1"}]}},
     {"filter.and[1]": ['key "score" is number: it takes between, eq, exists, gt, gte, in, lt, lte, missing, ne; '
                        'not "prefix".']}),
    ({"q": "score > 'high'"}, {"q": ['At position 0: "gt" on key "score" compares numbers; got "high".']}),
    ({"q": "score >"}, {"q": ['At position 7: expected a value (a "string", a number, true, false or [list]), '
                              "found the end of the expression."]}),
    ({"sort": [{"key": "speed"}]}, {"sort[0]": ['key "speed" is untyped: declare it (number, datetime, varchar, uuid, '
                                                'enum or boolean) to sort by it.']}),
    ({"sort": [{"field": "colour"}]}, {"sort[0]": ['Unknown built-in field "colour".']}),
    ({"page_size": "5"}, {"page_size": ["A whole number from 1 to 1000."]}),
    ({"page_size": 0}, {"page_size": ["A whole number from 1 to 1000."]}),
    ({"page_size": 1001}, {"page_size": ["A whole number from 1 to 1000."]}),
    ({"page_token": "garbage"}, {"page_token": ["Not a page token of this search and sort (not a page token)."]}),
    ({"fitler": {}}, {"fitler": ["Unknown member."]}),
    ({"scope": {"folder": "nope"}}, {"scope.folder": ["A folder uuid, or null for the whole organisation."]}),
    ({"scope": {"recursive": "yes"}}, {"scope.recursive": ["true or false."]}),
])
def test_refusals_are_400s_naming_the_place(world, body, answer):
    response = world["api"].post(URL, json=body)
    assert response.status_code == 400 and response.json() == answer


def test_a_token_of_another_sort_is_refused(world):
    first = world["api"].post(URL, json={"sort": [{"key": "score"}], "page_size": 5}).json()
    other = world["api"].post(URL, json={"sort": [{"key": "score", "desc": True}], "page_token": first["next_page_token"]})
    assert other.status_code == 400
    assert other.json() == {"page_token": ["Not a page token of this search and sort (a page token of another listing)."]}


def test_an_undeclared_key_equality_is_served_by_a_gin_index_on_client_metadata(world):
    """The compiled containment is indexable: with a GIN ``jsonb_path_ops`` index (the organisation's own
    is in tests/explorer/test_indexes.py) the planner answers an undeclared key's equality from it, never
    from a scan (declared keys compare their typed value, which their btree serves)."""
    from apps.explorer.compiler import compile_filter
    from apps.explorer.expression import parse_expression
    from apps.metadata.selectors import schema_for
    from apps.storage.models import Item

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE INDEX test_item_metadata_gin ON storage_item USING gin (client_metadata jsonb_path_ops)")
        cursor.execute("ANALYZE storage_item")
        cursor.execute("SET LOCAL enable_seqscan = off")  # 200 rows: a scan would be cheaper, the point is the plan
        # The compiler's predicate alone: in the whole query the planner may start from a folder instead.
        tree = parse_expression("speed = 42 or speed in (7, 'x')")
        queryset = Item.objects.filter(compile_filter(tree, schema_for(organisation_id=world["org"].pk)))
        sql, params = queryset.values("pk").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    assert "Bitmap Index Scan on test_item_metadata_gin" in plan, plan
