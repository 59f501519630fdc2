"""Selection actions over real HTTP: ``POST /api/v1/explore/{move,trash,export}``, exact outcomes,
permissions (editor on both sides of a move; 404 for what one cannot see), nothing changed on a refusal."""

from __future__ import annotations

import csv
import io
import json

import pytest

from apps.storage.models import FolderRole, Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create, folder_member_set
from apps.storage.services.items import items_restore
from tests.explorer.fixtures import build


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    admin = make_user(org, role="admin")
    folder_a, folder_b, sub, items = build(org, admin)
    return {"admin": admin, "a": folder_a, "b": folder_b, "sub": sub, "items": items, "api": api_for(admin),
            "api_for": api_for, "org": org, "make_user": make_user}


def placement(org) -> dict:
    return dict(Item.objects.filter(organisation=org).values_list("uuid", "folder_id"))


def test_move_all_matching_to_a_folder_moves_exactly_them_with_their_children(world):
    org, admin = world["org"], world["admin"]
    group = Item.objects.create(organisation=org, folder=world["a"], item_type=ItemType.IMAGE_GROUP, name="g",
                                status=ItemStatus.READY, client_metadata={"camera": "cam4"})
    child = Item.objects.create(organisation=org, folder=world["a"], item_type=ItemType.IMAGE, name="g-1",
                                parent=group, status=ItemStatus.READY, client_metadata={})
    target = folder_create(user=admin, name="reviewed", organisation=org)
    before = placement(org)
    chosen = {i.pk for i in world["items"] if i.client_metadata.get("camera") == "cam4"} | {group.pk}

    answer = world["api"].post("/api/v1/explore/move", json={"q": 'camera = "cam4"', "destination": str(target.pk)})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"moved": len(chosen)}
    assert placement(org) == {pk: target.pk if pk in chosen | {child.pk} else folder for pk, folder in before.items()}


def test_move_needs_editor_on_both_sides_and_refusals_move_nothing(world):
    org, admin, make_user = world["org"], world["admin"], world["make_user"]
    user = make_user(org, role="member", email="editor@example.com")
    folder_member_set(user=admin, folder=world["a"], member=user, role=FolderRole.EDITOR)
    folder_member_set(user=admin, folder=world["b"], member=user, role=FolderRole.VIEWER)
    hidden = folder_create(user=admin, name="hidden", organisation=org)
    api = world["api_for"](user)
    before = placement(org)
    a_scope = {"scope": {"folder": str(world["a"].pk)}}
    for body, status in [
        ({**a_scope, "destination": str(world["b"].pk)}, 403),  # viewer on the destination
        ({"scope": {"folder": str(world["b"].pk)}, "destination": str(world["a"].pk)}, 403),  # viewer on the items
        ({"destination": str(world["a"].pk)}, 403),  # the organisation: b's items are read-only to them
        ({**a_scope, "destination": str(hidden.pk)}, 404),
        ({**a_scope, "destination": "nope"}, 400),
        ({**a_scope}, 400),
    ]:
        answer = api.post("/api/v1/explore/move", json=body)
        assert answer.status_code == status, (body, answer.text)
    assert placement(org) == before
    sub_items = {i.pk for i in world["items"] if i.folder_id == world["sub"].pk}
    answer = api.post("/api/v1/explore/move", json={"scope": {"folder": str(world["sub"].pk)},
                                                    "destination": str(world["a"].pk)})
    assert answer.json() == {"moved": len(sub_items)}
    assert placement(org) == {pk: world["a"].pk if pk in sub_items else f for pk, f in before.items()}


def test_trash_picked_items_and_restore_them_by_batch(world):
    org = world["org"]
    picked = world["items"][5:9]
    answer = world["api"].post("/api/v1/explore/trash", json={"items": [str(i.pk) for i in picked]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["trashed"] == 4
    trashed = set(Item.objects.filter(organisation=org, deleted_at__isnull=False).values_list("uuid", flat=True))
    assert trashed == {i.pk for i in picked}
    assert set(Item.objects.filter(trash_batch=body["trash_batch"]).values_list("uuid", flat=True)) == trashed
    # Trashed items are no longer selectable: a second trash of them is a 404.
    assert world["api"].post("/api/v1/explore/trash", json={"items": [str(picked[0].pk)]}).status_code == 404
    items_restore(user=world["admin"], items=list(Item.objects.filter(pk__in=trashed)))
    assert not Item.objects.filter(organisation=org, deleted_at__isnull=False).exists()


def test_a_viewer_cannot_trash(world):
    viewer = world["make_user"](world["org"], role="member", email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=viewer, role=FolderRole.VIEWER)
    answer = world["api_for"](viewer).post("/api/v1/explore/trash", json={"scope": {"folder": str(world["a"].pk)}})
    assert answer.status_code == 403
    assert not Item.objects.filter(deleted_at__isnull=False).exists()


@pytest.fixture
def three(world):
    """Three items with known names, folders and metadata, in uuid order."""
    items = sorted(world["items"][:3], key=lambda i: i.pk)
    documents = [{"camera": "cam1", "score": 0.5, "note": "007", "tags": ["x", "y"]},
                 {"camera": "cam2", "note": "true", "pos": {"lat": 1}, "empty": ""},
                 {}]
    for item, metadata in zip(items, documents, strict=True):
        Item.objects.filter(pk=item.pk).update(client_metadata=metadata)
    return items, documents


def folder_path(world, item) -> str:
    return {world["a"].pk: "a", world["b"].pk: "b", world["sub"].pk: "a/a-sub"}[item.folder_id]


def test_export_csv_has_one_column_per_key_and_cells_that_read_back(world, three):
    items, _ = three
    answer = world["api"].post("/api/v1/explore/export", json={"items": [str(i.pk) for i in items], "format": "csv"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="selection.csv"'
    rows = list(csv.reader(io.StringIO(answer.text)))
    header = ["uuid", "name", "folder", "type", "camera", "empty", "note", "pos", "score", "tags"]
    base = [[str(i.pk), i.name, folder_path(world, i), i.item_type] for i in items]
    assert rows == [
        header,
        [*base[0], "cam1", "", "007", "", "0.5", '["x","y"]'],
        [*base[1], "cam2", '""', '"true"', '{"lat":1}', "", ""],
        [*base[2], "", "", "", "", "", ""],
    ]


def test_export_json_of_a_filter_selection(world, three):
    items, documents = three
    answer = world["api"].post("/api/v1/explore/export", json={"q": "camera exists", "format": "json"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    exported = json.loads(answer.content)
    expected = sorted((i for i in Item.objects.filter(organisation=world["org"])
                       if isinstance(i.client_metadata, dict) and "camera" in i.client_metadata), key=lambda i: i.pk)
    assert exported == [{"uuid": str(i.pk), "name": i.name, "folder": folder_path(world, i), "type": i.item_type,
                         "metadata": i.client_metadata} for i in expected]
    assert {e["uuid"] for e in exported} >= {str(items[0].pk), str(items[1].pk)}


def test_export_refuses_an_unknown_format_and_hides_other_folders(world):
    assert world["api"].post("/api/v1/explore/export", json={"format": "xml"}).json() == {"format": ["csv or json."]}
    viewer = world["make_user"](world["org"], role="member", email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["b"], member=viewer, role=FolderRole.VIEWER)
    exported = world["api_for"](viewer).post("/api/v1/explore/export", json={"format": "json"}).json()
    assert sorted(e["uuid"] for e in exported) == sorted(str(i.pk) for i in world["items"]
                                                         if i.folder_id == world["b"].pk)
    hidden = world["api_for"](viewer).post("/api/v1/explore/export", json={"scope": {"folder": str(world["a"].pk)}})
    assert hidden.status_code == 404
