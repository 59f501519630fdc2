"""Items through the REST API over real HTTP: detail, listing (filters, search, cursor pages), rename,
children, move, trash and restore.

Items are written straight into the database here; registering them through import jobs is covered
in test_imports_api.py.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from rest_framework.fields import DateTimeField

from apps.core.models import OrganisationRole
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create, folder_member_set


@pytest.fixture
def alice(transactional_db, org, make_user):
    return make_user(org, email="alice@example.com")


@pytest.fixture
def folder(alice, org):
    return folder_create(user=alice, name="data", organisation=org)


def _item(folder, name, item_type=ItemType.IMAGE, **fields) -> Item:
    values = {"url": f"https://cdn.example.com/{name}", "status": ItemStatus.READY} | fields
    return Item.objects.create(organisation=folder.organisation, folder=folder, item_type=item_type, name=name,
                               **values)


def _group(folder, name, child_names, item_type=ItemType.IMAGE_GROUP) -> Item:
    group = _item(folder, name, item_type, url="")
    for position, child in child_names:
        _item(folder, child, ItemType.IMAGE, parent=group, position=position)
    return group


def _names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["results"]]


def _next(api, response):
    """Follow a page's absolute ``next`` link (the test client takes paths)."""
    link = urlsplit(response.json()["next"])
    return api.get(f"{link.path}?{link.query}")


def _time(value) -> str:
    return DateTimeField().to_representation(value)


def test_item_detail_has_every_media_field_and_the_content_paths(api_for, alice, folder):
    item = _item(folder, "clip.mp4", ItemType.VIDEO, media_source="supplied", file_size=5468354,
                 mime_type="video/mp4", width=1280, height=720, fps=25.0, duration=29.08, frame_count=727,
                 codec="h264", client_metadata={"site": "Algiers"}, preview="previews/x/thumb.jpg",
                 description="front camera")
    item.refresh_from_db()

    response = api_for(alice).get(f"/api/v1/items/{item.pk}")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "uuid": str(item.pk), "folder": str(folder.pk), "parent": None, "position": None, "item_type": "video",
        "name": "clip.mp4", "description": "front camera", "url": "https://cdn.example.com/clip.mp4",
        "integration": None, "client_metadata": {"site": "Algiers"}, "status": "ready", "status_reason": "",
        "media_source": "supplied", "file_size": 5468354, "mime_type": "video/mp4", "width": 1280, "height": 720,
        "fps": 25.0, "duration": 29.08, "frame_count": 727, "codec": "h264", "audio_sample_rate": None,
        "audio_bit_depth": None, "audio_num_channels": None, "page_count": None, "dicom_study_uid": "",
        "dicom_series_uid": "", "dicom_instance_uid": "", "media_info": {}, "import_job": None,
        "created_at": _time(item.created_at), "updated_at": _time(item.updated_at), "is_trashed": False,
        "content_url": f"/items/{item.pk}/content", "preview_url": f"/items/{item.pk}/preview",
    }


def test_a_container_without_a_render_has_no_content_or_preview_path(api_for, alice, folder):
    group = _group(folder, "g", [(0, "a.jpg")])
    body = api_for(alice).get(f"/api/v1/items/{group.pk}").json()
    assert (body["item_type"], body["content_url"], body["preview_url"]) == ("image_group", None, None)


def test_folder_items_filter_by_type_and_search(api_for, alice, folder):
    other = folder_create(user=alice, name="other", organisation=folder.organisation)
    _item(folder, "a.jpg")
    _item(folder, "B.jpg")
    _item(folder, "c.mp4", ItemType.VIDEO)
    _item(folder, "d.mp3", ItemType.AUDIO)
    _group(folder, "group-b", [(0, "child-b.jpg")])
    _item(folder, "trashed-b.jpg", deleted_at="2026-01-01T00:00:00Z")
    _item(other, "elsewhere-b.jpg")
    api = api_for(alice)
    base = f"/api/v1/folders/{folder.pk}/items"

    assert _names(api.get(base)) == ["B.jpg", "a.jpg", "c.mp4", "d.mp3", "group-b"]
    assert _names(api.get(base, params={"type": ["image", "video"]})) == ["B.jpg", "a.jpg", "c.mp4"]
    assert _names(api.get(base, params={"search": "b"})) == ["B.jpg", "group-b"]
    assert _names(api.get(base, params={"search": "B", "type": "image_group"})) == ["group-b"]
    assert _names(api.get(base, params={"search": "zzz"})) == []

    refused = api.get(base, params={"type": ["image", "gif"]})
    assert refused.status_code == 400
    assert refused.json() == {"type": {"1": ['"gif" is not a valid choice.']}}


def test_folder_items_pages_neither_skip_nor_repeat(api_for, alice, folder):
    for name in ["item-1", "item-2", "item-3", "same", "same", "same"]:
        _item(folder, name)
    api = api_for(alice)

    first = api.get(f"/api/v1/folders/{folder.pk}/items", params={"page_size": 2})
    assert _names(first) == ["item-1", "item-2"]
    assert first.json()["previous"] is None
    _item(folder, "item-0")  # lands on a page already read: offset paging would now repeat item-2
    pages = [first]
    while pages[-1].json()["next"]:
        pages.append(_next(api, pages[-1]))

    assert [_names(page) for page in pages] == [["item-1", "item-2"], ["item-3", "same"], ["same", "same"]]
    seen = [item["uuid"] for page in pages for item in page.json()["results"]]
    assert len(set(seen)) == 6


def test_unknown_or_invisible_items_are_404(api_for, alice, folder, make_user, org):
    item = _item(folder, "a.jpg")
    outsider = api_for(make_user(org, email="bob@example.com"))
    for path in [f"/api/v1/items/{item.pk}", f"/api/v1/items/{uuid.uuid4()}", "/api/v1/items/not-a-uuid"]:
        response = outsider.get(path)
        assert response.status_code == 404
    assert outsider.get(f"/api/v1/items/{item.pk}").json() == {"detail": "No such item."}
    assert outsider.get(f"/api/v1/folders/{folder.pk}/items").json() == {"detail": "No such folder."}


def test_patch_renames_and_describes(api_for, alice, folder):
    item = _item(folder, "a.jpg")
    api = api_for(alice)

    response = api.patch(f"/api/v1/items/{item.pk}", json={"name": "  front.jpg ", "description": "cam 1"})

    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["description"]) == ("front.jpg", "cam 1")
    item.refresh_from_db()
    assert (item.name, item.description) == ("front.jpg", "cam 1")

    blank = api.patch(f"/api/v1/items/{item.pk}", json={"name": "  "})
    assert blank.status_code == 400
    assert blank.json() == {"name": ["An item needs a name."]}
    too_long = api.patch(f"/api/v1/items/{item.pk}", json={"name": "x" * 1025})
    assert too_long.json() == {"name": ["At most 1024 characters."]}
    item.refresh_from_db()
    assert item.name == "front.jpg"


def test_children_come_in_position_order(api_for, alice, folder):
    group = _group(folder, "seq", [(2, "c.jpg"), (0, "a.jpg"), (3, "d.jpg"), (1, "b.jpg")], ItemType.IMAGE_SEQUENCE)
    api = api_for(alice)

    first = api.get(f"/api/v1/items/{group.pk}/children", params={"page_size": 3})
    second = _next(api, first)

    assert _names(first) == ["a.jpg", "b.jpg", "c.jpg"]
    assert _names(second) == ["d.jpg"]
    assert second.json()["next"] is None
    assert [(c["position"], c["parent"]) for c in first.json()["results"]] == [
        (0, str(group.pk)), (1, str(group.pk)), (2, str(group.pk))]
    assert _names(api.get(f"/api/v1/folders/{folder.pk}/items")) == ["seq"]


def test_move_takes_containers_with_their_children(api_for, alice, folder):
    destination = folder_create(user=alice, name="dest", organisation=folder.organisation)
    single = _item(folder, "a.jpg")
    group = _group(folder, "g", [(0, "g0.jpg"), (1, "g1.jpg")])
    _item(folder, "stays.jpg")
    api = api_for(alice)

    response = api.post("/api/v1/items/move", json={"items": [str(single.pk), str(group.pk), str(single.pk)],
                                                      "destination": str(destination.pk)})

    assert response.status_code == 200, response.text
    assert response.json() == {"moved": 4}
    assert _names(api.get(f"/api/v1/folders/{destination.pk}/items")) == ["a.jpg", "g"]
    assert _names(api.get(f"/api/v1/folders/{folder.pk}/items")) == ["stays.jpg"]
    assert sorted(Item.objects.filter(folder=destination).values_list("name", flat=True)) == [
        "a.jpg", "g", "g0.jpg", "g1.jpg"]


def test_move_refuses_a_child_and_an_unknown_destination(api_for, alice, folder):
    destination = folder_create(user=alice, name="dest", organisation=folder.organisation)
    group = _group(folder, "g", [(0, "g0.jpg")])
    child = group.children.get()
    api = api_for(alice)

    child_move = api.post("/api/v1/items/move", json={"items": [str(child.pk)], "destination": str(destination.pk)})
    assert child_move.status_code == 400
    assert child_move.json() == {"items": ["'g0.jpg' belongs to a group or series; move the container."]}

    nowhere = api.post("/api/v1/items/move", json={"items": [str(group.pk)], "destination": str(uuid.uuid4())})
    assert nowhere.status_code == 404
    assert nowhere.json() == {"detail": "No such folder."}

    empty = api.post("/api/v1/items/move", json={"items": [], "destination": str(destination.pk)})
    assert empty.json() == {"items": ["This list may not be empty."]}
    assert Item.objects.filter(folder=destination).count() == 0


def test_trash_then_restore_brings_back_the_whole_batch(api_for, alice, folder):
    single = _item(folder, "a.jpg")
    group = _group(folder, "g", [(0, "g0.jpg"), (1, "g1.jpg")])
    _item(folder, "stays.jpg")
    api = api_for(alice)

    trashed = api.post("/api/v1/items/trash", json={"items": [str(single.pk), str(group.pk)]})

    assert trashed.status_code == 200, trashed.text
    batch = trashed.json()["trash_batch"]
    assert sorted(Item.objects.filter(trash_batch=batch).values_list("name", flat=True)) == [
        "a.jpg", "g", "g0.jpg", "g1.jpg"]
    assert _names(api.get(f"/api/v1/folders/{folder.pk}/items")) == ["stays.jpg"]
    assert sorted(_names(api.get("/api/v1/items/trash"))) == ["a.jpg", "g"]
    assert api.get(f"/api/v1/items/{single.pk}").status_code == 404

    restored = api.post("/api/v1/items/restore", json={"items": [str(single.pk)]})

    assert restored.status_code == 200, restored.text
    assert restored.json() == {"restored": 4}
    assert _names(api.get(f"/api/v1/folders/{folder.pk}/items")) == ["a.jpg", "g", "stays.jpg"]
    assert api.get("/api/v1/items/trash").json() == {"next": None, "previous": None, "results": []}
    assert Item.objects.filter(deleted_at__isnull=False).count() == 0


def test_trash_lists_each_item_once_for_an_organisation_admin(api_for, alice, folder, make_user, org):
    for email in ["m1@example.com", "m2@example.com"]:
        folder_member_set(user=alice, folder=folder, member=make_user(org, email=email), role="viewer")
    admin = make_user(org, role=OrganisationRole.ADMIN, email="admin@example.com")
    item = _item(folder, "a.jpg")
    api_for(alice).post("/api/v1/items/trash", json={"items": [str(item.pk)]})

    assert _names(api_for(admin).get("/api/v1/items/trash")) == ["a.jpg"]
    assert _names(api_for(make_user(org, email="nobody@example.com")).get("/api/v1/items/trash")) == []


def test_openapi_schema_lists_item_routes(api_for, alice):
    paths = api_for(alice).get("/api/schema?format=json").json()["paths"]
    assert {
        "/api/v1/folders/{folder_uuid}/items", "/api/v1/items/{uuid}", "/api/v1/items/{uuid}/children",
        "/api/v1/items/move", "/api/v1/items/trash", "/api/v1/items/restore",
    } <= set(paths)
    assert set(paths["/api/v1/items/trash"]) == {"get", "post"}
