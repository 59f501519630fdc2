"""The 2-D projection: computed by a real worker, served as binary to whom may see the items, stale
when vectors change, and the lasso leaf of the filter tree through the REST search."""

from __future__ import annotations

import time

import numpy as np
import pytest

from apps.similarity.models import Projection, ProjectionStatus
from apps.similarity.projecting import layout_compute
from apps.similarity.services import projection_compute, projection_request
from apps.storage.models import FolderRole
from apps.storage.services.folders import folder_member_set
from tests.similarity.projection_fixtures import add_item, build, inside, parse_points, vectors

POINTS = "/api/v1/similarity/projections/clip"
SEARCH = "/api/v1/explore/search"


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    admin = make_user(org, role="admin")
    folder_a, folder_b, items = build(org, admin)
    viewer = make_user(org)
    folder_member_set(user=admin, folder=folder_a, member=viewer, role=FolderRole.VIEWER)
    return {"org": org, "admin": admin, "viewer": viewer, "a": folder_a, "b": folder_b, "items": items,
            "api": api_for(admin), "viewer_api": api_for(viewer), "api_for": api_for}


def computed(world) -> dict:
    """Compute in this process (no worker) and return the admin's points."""
    from apps.metadata.models import MetadataKey

    key = MetadataKey.objects.get(organisation=world["org"], name="clip")
    projection = projection_request(organisation=world["org"], key=key)
    projection_compute(projection_id=projection.pk)
    answer = world["api"].get(POINTS)
    assert answer.status_code == 200
    return parse_points(answer.content)


def wait_status(api, wanted: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = api.get(POINTS + "/status").json()
        if state["status"] == wanted:
            return state
        assert state["status"] != "failed", state
        assert time.monotonic() < deadline, state
        time.sleep(0.3)


def test_a_worker_computes_the_projection_and_recomputes_it_when_vectors_change(celery_worker_process, world):
    api = world["api"]
    assert api.get(POINTS + "/status").json()["status"] == "none"
    answer = api.post(POINTS + "/recompute")
    assert answer.status_code == 202 and answer.json()["status"] == "computing"
    state = wait_status(api, "fresh")
    assert state["point_count"] == 60 and state["method"] == "umap" and state["params"]["seed"] == 42
    points = parse_points(api.get(POINTS).content)
    assert set(points) == {item.pk for item in world["items"]}
    assert sorted(p[2] for p in points.values()) == list(range(60))
    assert all(-1.0001 <= v <= 1.0001 for p in points.values() for v in p[:2])

    # A new vector: stale at once (fingerprint), then the after-write hook has the worker recompute it.
    added = add_item(world["org"], world["admin"], world["a"], 60)
    assert api.get(POINTS + "/status").json()["status"] in ("stale", "computing")
    state = wait_status(api, "fresh")
    assert state["point_count"] == 61
    assert added.pk in parse_points(api.get(POINTS).content)


def test_the_same_vectors_and_seed_give_the_same_layout():
    data = vectors(300).astype(np.float32)
    first, second = layout_compute(data, seed=7), layout_compute(data, seed=7)
    assert first.xy.shape == (300, 2) and first.xy.dtype == np.float32
    assert np.array_equal(first.xy, second.xy)
    assert float(np.abs(first.xy).max()) == pytest.approx(1.0, abs=1e-6)
    # The three centres stay apart: each point is nearer its own centre's mean than another's.
    means = np.array([first.xy[np.arange(300) % 3 == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((first.xy[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == np.arange(300) % 3).mean() > 0.95


def test_a_computed_projection_is_the_same_computed_again(world):
    first = computed(world)
    Projection.objects.update(status=ProjectionStatus.STALE)
    assert computed(world) == first


def test_points_are_only_those_the_caller_may_see(world):
    points = computed(world)
    assert len(points) == 60
    answer = world["viewer_api"].get(POINTS)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["X-Projection-Status"] == "fresh"
    seen = parse_points(answer.content)
    assert set(seen) == {item.pk for item in world["items"] if item.folder_id == world["a"].pk}
    assert all(seen[pk] == points[pk] for pk in seen)
    assert world["api_for"](None).get(POINTS).status_code in (401, 403)
    assert world["api"].get("/api/v1/similarity/projections/camera").status_code == 404  # not an embedding key
    assert world["api"].get("/api/v1/similarity/projections/nope/status").status_code == 404
    outsider = world["api_for"](__import__("tests.factories", fromlist=["UserFactory"]).UserFactory())
    assert outsider.get(POINTS).status_code == 400  # belongs to no organisation: says so


def test_colour_values_come_per_point(world):
    points = computed(world)
    answer = world["api"].get(POINTS + "/values", params={"key": "camera"})
    assert answer.status_code == 200
    body = answer.content
    length = int(np.frombuffer(body[:4], "<u4")[0])
    meta = __import__("json").loads(body[4:4 + length])
    assert meta["kind"] == "category" and sorted(meta["labels"]) == ["cam1", "cam2", "cam3"]
    n = int(np.frombuffer(body[4 + length:8 + length], "<u4")[0])
    ordinals = np.frombuffer(body, "<u4", n, 8 + length)
    codes = np.frombuffer(body, "<u2", n, 8 + length + 4 * n)
    by_ordinal = dict(zip(ordinals.tolist(), codes.tolist()))
    for n_item, item in enumerate(world["items"]):
        assert meta["labels"][by_ordinal[points[item.pk][2]] - 1] == ["cam1", "cam2", "cam3"][n_item % 3]
    numbers = world["api"].get(POINTS + "/values", params={"field": "created"})
    assert numbers.status_code == 200
    refused = world["api"].get(POINTS + "/values", params={"key": "note"})
    assert refused.status_code == 400 and "key" in refused.json()


def lasso_search(api, polygon, extra=None) -> set:
    leaf = {"projection": {"key": "clip", "polygon": polygon}}
    answer = api.post(SEARCH, json={"filter": {"and": [leaf, extra]} if extra else leaf, "page_size": 1000})
    assert answer.status_code == 200, answer.text
    return {__import__("uuid").UUID(row["uuid"]) for row in answer.json()["results"]}


def test_the_lasso_leaf_finds_exactly_the_items_inside_the_polygon(world):
    points = computed(world)
    polygon = [[-1.1, -1.1], [0.2, -1.1], [0.9, 0.3], [-0.4, 1.1]]
    expected = {pk for pk, (x, y, _) in points.items() if inside((x, y), polygon)}
    assert 0 < len(expected) < 60
    assert lasso_search(world["api"], polygon) == expected
    # Combined with other leaves and negated, like any leaf.
    cam1 = {world["items"][n].pk for n in range(0, 60, 3)}
    assert lasso_search(world["api"], polygon, {"key": "camera", "op": "eq", "value": "cam1"}) == expected & cam1
    answer = world["api"].post(SEARCH, json={"filter": {"not": {"projection": {"key": "clip", "polygon": polygon}}},
                                             "page_size": 1000})
    assert {__import__("uuid").UUID(r["uuid"]) for r in answer.json()["results"]} == set(points) - expected
    # Only what the caller may see.
    assert lasso_search(world["viewer_api"], polygon) == {
        pk for pk in expected if next(i for i in world["items"] if i.pk == pk).folder_id == world["a"].pk}


@pytest.mark.parametrize("leaf, place, words", [
    ({"projection": {"key": "clip", "polygon": [[0, 0], [1, 1]]}}, "filter.projection.polygon", "3 to 1000"),
    ({"projection": {"key": "clip", "polygon": [[0, 0]] * 1001}}, "filter.projection.polygon", "3 to 1000"),
    ({"projection": {"key": "clip", "polygon": [[0, 0], [1, "a"], [1, 0]]}}, "filter.projection.polygon[1]",
     "finite"),
    ({"projection": {"key": "clip", "polygon": [[0, 0], [1, 1, 1], [1, 0]]}}, "filter.projection.polygon[1]",
     "finite"),
    ({"projection": {"key": "clip", "polygon": [[0, 0], [123456789, 1], [1, 0]]}}, "detail",
     "$.filter.projection.polygon[1][0]"),  # 1e400: the JSON reader refuses it, naming the place
    ({"projection": {"key": "clip"}}, "filter.projection", "polygon"),
    ({"projection": {"key": "camera", "polygon": [[0, 0], [1, 1], [1, 0]]}}, "filter", "embedding key"),
    ({"projection": {"key": "", "polygon": [[0, 0], [1, 1], [1, 0]]}}, "filter.projection.key", "key name"),
    ({"projection": [], "op": "eq"}, "filter", "only"),
])
def test_bad_lassos_are_refused_naming_the_place(world, leaf, place, words):
    body = __import__("json").dumps({"filter": leaf}).replace("123456789", "1e400")
    answer = world["api"].post(SEARCH, data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    messages = answer.json()[place]
    assert words in (messages if isinstance(messages, str) else " ".join(messages))


def test_a_saved_view_keeps_the_lasso_and_opens_with_it(world, client):
    from urllib.parse import parse_qs, urlsplit

    from django.http import QueryDict

    from apps.explorer.forms import canonical_query
    from apps.explorer.models import SavedView

    points = computed(world)
    client.force_login(world["admin"])
    polygon = "-1.1,-1.1 0.2,-1.1 0.9,0.3 -0.4,1.1"
    query = canonical_query(QueryDict(f"organisation={world['org'].pk}&lasso:clip={polygon}&in:camera=cam1"))
    page = client.get(f"/explore/?{query}")
    expected = {pk for pk, (x, y, _) in points.items()
                if inside((x, y), [[-1.1, -1.1], [0.2, -1.1], [0.9, 0.3], [-0.4, 1.1]])} \
        & {world["items"][n].pk for n in range(0, 60, 3)}
    assert page.status_code == 200
    assert 'name="lasso:clip"' in page.content.decode()
    tiles = set(__import__("re").findall(r'data-item="([0-9a-f-]{36})"', page.content.decode()))
    assert {__import__("uuid").UUID(t) for t in tiles} == expected

    saved = client.post("/explore/views/save", {"organisation": str(world["org"].pk), "query": query,
                                                "name": "lassoed"})
    assert saved.status_code == 302
    view = SavedView.objects.get(name="lassoed")
    assert {"projection": {"key": "clip", "polygon": [[-1.1, -1.1], [0.2, -1.1], [0.9, 0.3], [-0.4, 1.1]]}} \
        in view.filter["and"]
    opened = client.get(f"/explore/views/{view.pk}/open")
    assert opened.status_code == 302
    reopened = parse_qs(urlsplit(opened["Location"]).query)
    assert reopened["lasso:clip"] == [polygon] and reopened["in:camera"] == ["cam1"]
    # Through the REST door too: the saved filter searches the same items.
    answer = world["api"].post(SEARCH, json={"filter": view.filter, "page_size": 1000})
    assert {__import__("uuid").UUID(r["uuid"]) for r in answer.json()["results"]} == expected


def test_a_bad_lasso_in_the_explorer_url_is_shown_not_a_500(world, client):
    client.force_login(world["admin"])
    page = client.get(f"/explore/?organisation={world['org'].pk}&lasso:clip=1,2 3,x")
    assert page.status_code == 200 and "A lasso is written x1,y1 x2,y2" in page.content.decode()
    page = client.get(f"/explore/?organisation={world['org'].pk}&lasso:clip=1,2 3,4")
    assert page.status_code == 200 and "3 to 1000 points" in page.content.decode()
