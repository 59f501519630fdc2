"""Duplicate groups through their doors: REST list/scan/resolve over real HTTP, the Explorer's
``duplicate`` field, the Duplicates page; who sees what and who may trash."""

from __future__ import annotations

import random
import time

import pytest

from apps.core.jobs import JobStatus
from apps.metadata.models import Embedding, MetadataKey
from apps.metadata.services.schema import schema_key_add
from apps.similarity.models import DuplicateMember, DuplicateScan
from apps.similarity.services_duplicates import duplicate_scan_run
from apps.storage.models import FolderRole, Item
from apps.storage.services.folders import folder_create, folder_member_set
from tests.similarity.helpers import flip, hashed_items, random_hash

LIST = "/api/v1/similarity/duplicates"


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    """Folders a and b; group 1 = a-000, a-001, b-000 (near copies), group 2 = a-002, a-003; a-004 alone.
    The viewer sees folder a only, as a viewer; the editor edits folder a only."""
    admin = make_user(org, role="admin", email="boss@example.com")
    folder_a = folder_create(user=admin, name="a", organisation=org)
    folder_b = folder_create(user=admin, name="b", organisation=org)
    rng = random.Random(3)
    one, two, alone = (random_hash(rng) for _ in range(3))
    a = hashed_items(org, folder_a, [one, flip(one, [1, 2]), two, flip(two, [9]), alone], prefix="a")
    b = hashed_items(org, folder_b, [flip(one, [40])], prefix="b")
    scan = DuplicateScan.objects.create(organisation=org, method="hash", threshold=6, total=1)
    duplicate_scan_run(scan_id=scan.pk)
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=admin, folder=folder_a, member=viewer, role=FolderRole.VIEWER)
    editor = make_user(org, email="editor@example.com")
    folder_member_set(user=admin, folder=folder_a, member=editor, role=FolderRole.EDITOR)
    return {"admin": admin, "viewer": viewer, "editor": editor, "a": a, "b": b, "api_for": api_for,
            "org": org, "folder_a": folder_a, "make_user": make_user}


def _groups(api, **params) -> list[set[str]]:
    answer = api.get(LIST, params=params)
    assert answer.status_code == 200, answer.text
    return [{member["name"] for member in group["items"]} for group in answer.json()["results"]]


def test_each_user_sees_only_the_groups_and_members_of_items_they_may_see(world):
    admin, viewer = world["api_for"](world["admin"]), world["api_for"](world["viewer"])
    assert _groups(admin) == [{"a-002", "a-003"}, {"a-000", "a-001", "b-000"}]
    assert _groups(viewer) == [{"a-002", "a-003"}, {"a-000", "a-001"}]
    body = viewer.get(LIST).json()
    assert [group["size"] for group in body["results"]] == [2, 3]  # the group's size counts b-000 too
    assert body["scan"]["group_count"] == 2 and body["scan"]["status"] == "DONE"
    member_without_folders = world["make_user"](world["org"], email="nobody@example.com")
    assert _groups(world["api_for"](member_without_folders)) == []


def test_groups_come_in_pages(world):
    api = world["api_for"](world["admin"])
    first = api.get(LIST, params={"page_size": 1}).json()
    assert len(first["results"]) == 1 and first["next_page_token"]
    second = api.get(LIST, params={"page_size": 1, "page_token": first["next_page_token"]}).json()
    assert [g["id"] for g in first["results"] + second["results"]] == [g["id"] for g in api.get(LIST).json()["results"]]
    assert second["next_page_token"] is None


def test_a_viewer_cannot_resolve_and_nothing_is_trashed(world):
    viewer = world["api_for"](world["viewer"])
    group = viewer.get(LIST).json()["results"][0]
    answer = viewer.post(f"{LIST}/{group['id']}/resolve", json={"keep": group["items"][0]["uuid"]})
    assert answer.status_code == 403
    assert Item.objects.filter(deleted_at__isnull=False).count() == 0


def test_resolve_trashes_exactly_the_other_members_the_user_can_see(world):
    editor = world["api_for"](world["editor"])
    a = world["a"]
    group = next(g for g in editor.get(LIST).json()["results"] if len(g["items"]) == 2 and g["size"] == 3)
    answer = editor.post(f"{LIST}/{group['id']}/resolve", json={"keep": str(a[1].pk)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["trashed"] == 1
    assert set(Item.objects.filter(deleted_at__isnull=False).values_list("name", flat=True)) == {"a-000"}
    # b-000 (in folder b, which the editor cannot see) is untouched; the admin still sees a-001 with it.
    assert {"a-001", "b-000"} in _groups(world["api_for"](world["admin"]))


def test_refusals_name_the_place_and_change_nothing(world):
    api = world["api_for"](world["admin"])
    group = api.get(LIST).json()["results"][0]
    cases = [
        ("get", LIST, {"params": {"method": "fuzzy"}}, 400, "method"),
        ("get", LIST, {"params": {"method": "embedding", "key": "nope"}}, 400, "key"),
        ("get", LIST, {"params": {"page_size": "0"}}, 400, "page_size"),
        ("get", LIST, {"params": {"page_token": "garbage"}}, 400, "page_token"),
        ("post", f"{LIST}/scan", {"json": {"method": "hash", "threshold": 17}}, 400, "threshold"),
        ("post", f"{LIST}/scan", {"json": {"method": "hash", "threshold": "6"}}, 400, "threshold"),
        ("post", f"{LIST}/scan", {"json": {"method": "hash", "key": "clip"}}, 400, "key"),
        ("post", f"{LIST}/scan", {"json": {"method": "embedding", "key": "nope"}}, 400, "key"),
        ("post", f"{LIST}/scan", {"json": {"method": "hash", "extra": 1}}, 400, "extra"),
        ("post", f"{LIST}/{group['id']}/resolve", {"json": {"keep": str(world["a"][4].pk)}}, 400, "keep"),
        ("post", f"{LIST}/{group['id']}/resolve", {"json": {"keep": "not-a-uuid"}}, 400, "keep"),
        ("post", f"{LIST}/999999/resolve", {"json": {"keep": str(world["a"][0].pk)}}, 404, None),
    ]
    scans = DuplicateScan.objects.count()
    for method, url, kwargs, status, place in cases:
        answer = getattr(api, method)(url, **kwargs)
        assert answer.status_code == status, (url, kwargs, answer.text)
        if place:
            assert place in answer.json(), answer.text
    assert DuplicateScan.objects.count() == scans
    assert Item.objects.filter(deleted_at__isnull=False).count() == 0
    assert world["api_for"]().get(LIST).status_code in (401, 403)


def test_the_explorer_filters_items_with_a_near_duplicate(world):
    api = world["api_for"](world["admin"])

    def names(**body):
        answer = api.post("/api/v1/explore/search", json={**body, "sort": [{"field": "name"}]})
        assert answer.status_code == 200, answer.text
        return [row["name"] for row in answer.json()["results"]]

    assert names(q="$duplicate") == ["a-000", "a-001", "a-002", "a-003", "b-000"]
    assert names(q="not $duplicate") == ["a-004"]
    assert names(filter={"field": "duplicate", "op": "eq", "value": True}) == names(q="$duplicate = true")
    assert names(filter={"field": "duplicate", "op": "ne", "value": True}) == ["a-004"]
    refused = api.post("/api/v1/explore/search", json={"filter": {"field": "duplicate", "op": "gt", "value": 1}})
    assert refused.status_code == 400 and "filter" in refused.json()
    refused = api.post("/api/v1/explore/search", json={"q": "$duplicate = 3"})
    assert refused.status_code == 400 and "q" in refused.json()
    facets = api.post("/api/v1/explore/facets", json={"keys": [{"field": "duplicate"}]})
    assert facets.status_code == 200, facets.text
    assert {str(v["value"]).lower(): v["count"] for v in facets.json()["facets"][0]["counts"]} == {"true": 5, "false": 1}
    # A member whose only twin is trashed no longer has a near-duplicate.
    Item.objects.filter(name="a-003").update(deleted_at="2026-12-01T00:00:00Z")
    assert names(q="$duplicate") == ["a-000", "a-001", "b-000"]


def test_the_explorer_sidebar_and_the_duplicates_page(world, client):
    client.force_login(world["editor"])
    page = client.get("/explore/", {"is:$duplicate": "true", "organisation": str(world["org"].pk)})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="is:$duplicate"' in html and "/explore/duplicates/" in html
    assert html.count('class="item-card result-tile"') == 4  # a-000..a-003: the editor does not see b

    duplicates = client.get("/explore/duplicates/")
    text = duplicates.content.decode()
    assert duplicates.status_code == 200
    assert text.count('class="dup-group card"') == 2 and text.count("Keep this one, trash the rest") == 4
    group = DuplicateMember.objects.get(item=world["a"][2]).group_id
    answer = client.post(f"/explore/duplicates/{group}/resolve",
                         {"keep": str(world["a"][3].pk), "organisation": str(world["org"].pk)})
    assert answer.status_code == 302
    assert list(Item.objects.filter(deleted_at__isnull=False).values_list("name", flat=True)) == ["a-002"]

    client.force_login(world["viewer"])
    text = client.get("/explore/duplicates/").content.decode()
    assert text.count('class="dup-group card"') == 1 and "Keep this one" not in text


def test_a_scan_started_from_the_page_runs_on_the_worker(world, client, celery_worker_process):
    client.force_login(world["admin"])
    answer = client.post("/explore/duplicates/scan", {"method": "hash", "threshold": "0",
                                                     "organisation": str(world["org"].pk)})
    assert answer.status_code == 302
    scan = DuplicateScan.objects.filter(threshold=0).get()
    deadline = time.monotonic() + 30
    while DuplicateScan.objects.get(pk=scan.pk).status != JobStatus.DONE and time.monotonic() < deadline:
        time.sleep(0.2)
    scan.refresh_from_db()
    assert (scan.status, scan.group_count) == (JobStatus.DONE, 0)  # no exact copies among them
    assert _groups(world["api_for"](world["admin"])) == []  # the newer scan's (empty) result is current


def test_embedding_scans_group_items_whose_vectors_are_close(world):
    org, folder = world["org"], world["folder_a"]
    schema_key_add(user=world["admin"], organisation=org, name="clip", type="embedding", size=3)
    key = MetadataKey.objects.get(organisation=org, name="clip")
    items = hashed_items(org, folder, [1, 2, 3, 4], prefix="e")
    vectors = [[1, 0, 0], [0.99, 0.05, 0], [0, 1, 0], [0, 0, 1]]
    Embedding.objects.bulk_create([Embedding(key=key, item=i, vector=v) for i, v in zip(items, vectors)])
    api = world["api_for"](world["admin"])
    assert api.post(f"{LIST}/scan", json={"method": "embedding", "key": "clip", "threshold": 0})\
        .json() == {"threshold": ["An embedding threshold is a cosine distance above 0 and at most 1.0."]}
    scan = DuplicateScan.objects.create(organisation=org, method="embedding", key=key, threshold=0.01, total=1)
    scan = duplicate_scan_run(scan_id=scan.pk)
    assert (scan.status, scan.hashes, scan.group_count) == (JobStatus.DONE, 4, 1)
    assert _groups(api, method="embedding", key="clip") == [{"e-000", "e-001"}]
    # The hash groups are another method's and stay as they were.
    assert len(_groups(api)) == 2
