"""Item metadata over real HTTP with API tokens: replace, merge, bulk, history, revert, embeddings, frames
and who may do what."""

from __future__ import annotations

import html
import uuid

import pytest

from apps.metadata.models import Embedding
from apps.metadata.records import MetadataChange
from apps.metadata.services.schema import schema_key_add
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create, folder_member_set
from tests.factories import OrganisationFactory

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def people(transactional_db, org, make_user):
    admin = make_user(org, role="admin", email="admin@example.com")
    folder = folder_create(user=admin, name="data", organisation=org)
    editor = make_user(org, email="editor@example.com")
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=admin, folder=folder, member=editor, role="editor")
    folder_member_set(user=admin, folder=folder, member=viewer, role="viewer")
    return {"admin": admin, "editor": editor, "viewer": viewer, "folder": folder,
            "outsider": make_user(org, email="member@example.com"),
            "stranger": make_user(OrganisationFactory(name="Elsewhere"), email="stranger@example.com")}


def _item(folder, name="a.jpg", metadata=None, item_type=ItemType.IMAGE, **extra) -> Item:
    return Item.objects.create(
        organisation=folder.organisation, folder=folder, item_type=item_type, name=name, url=f"https://h/{name}",
        client_metadata=metadata or {}, status=ItemStatus.READY, **extra)


def _stored(item) -> dict:
    item.refresh_from_db()
    return item.client_metadata


def _at(change: MetadataChange) -> str:
    return change.at.isoformat().replace("+00:00", "Z")


def test_replace_and_merge_give_exact_results(api_for, people):
    item = _item(people["folder"], metadata={"a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2], "d": None})
    api = api_for(people["editor"])
    path = f"/api/v1/items/{item.pk}/metadata"

    assert api.get(path).json() == {"a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2], "d": None}
    merged = api.patch(path, json={"a": None, "b": {"y": None, "z": 3}, "c": [3], "e": "new"}, headers=MERGE_PATCH)
    assert merged.status_code == 200, merged.text
    assert merged.json() == {"b": {"x": 1, "z": 3}, "c": [3], "d": None, "e": "new"}
    assert _stored(item) == {"b": {"x": 1, "z": 3}, "c": [3], "d": None, "e": "new"}

    merged = api.patch(path, json={"e": None, "f": False})  # application/json works too
    assert merged.json() == {"b": {"x": 1, "z": 3}, "c": [3], "d": None, "f": False}

    replaced = api.put(path, json={"only": {"this": True}})
    assert (replaced.status_code, replaced.json()) == (200, {"only": {"this": True}})
    assert _stored(item) == {"only": {"this": True}}
    assert api.get(f"/api/v1/items/{item.pk}").json()["client_metadata"] == {"only": {"this": True}}

    empty = api.put(path, data=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 400
    assert _stored(item) == {"only": {"this": True}}


def test_invalid_value_is_refused_with_item_key_type_and_value(api_for, people, org):
    schema_key_add(user=people["admin"], organisation=org, name="score", type="number")
    item = _item(people["folder"], metadata={"score": 1})
    api = api_for(people["editor"])

    response = api.patch(f"/api/v1/items/{item.pk}/metadata", json={"score": "high"}, headers=MERGE_PATCH)

    assert response.status_code == 400
    assert response.json() == {"metadata": [f'item {item.pk}: key "score": expected number, got "high"']}
    assert _stored(item) == {"score": 1}
    assert api.put(f"/api/v1/items/{item.pk}/metadata", json=[1, 2]).json() == {
        "metadata": [f"item {item.pk}: metadata must be a JSON object"]}
    assert MetadataChange.objects.count() == 0


def test_bulk_with_one_invalid_value_changes_nothing_then_applies_all(api_for, people, org):
    schema_key_add(user=people["admin"], organisation=org, name="weather", type="enum", enum_values=["rain", "sun"])
    first, second, third = (_item(people["folder"], f"{n}.jpg", {"n": n}) for n in (1, 2, 3))
    api = api_for(people["editor"])

    refused = api.post("/api/v1/metadata/bulk", json={"mode": "merge", "items": {
        str(first.pk): {"weather": "sun"}, str(second.pk): {"weather": "snow"}, str(third.pk): {"n": None}}})

    assert refused.status_code == 400
    assert refused.json() == {"metadata": [
        f'item {second.pk}: key "weather": expected one of "rain", "sun", got "snow"']}
    assert [_stored(i) for i in (first, second, third)] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert MetadataChange.objects.count() == 0

    applied = api.post("/api/v1/metadata/bulk", json={"updates": [
        {"item": str(first.pk), "mode": "merge", "metadata": {"weather": "sun"}},
        {"item": str(second.pk), "mode": "replace", "metadata": {"weather": "rain"}},
        {"item": str(third.pk), "mode": "merge", "metadata": {"n": None}},
    ]})

    assert applied.status_code == 200, applied.text
    changes = {c.item_id: c.pk for c in MetadataChange.objects.all()}
    assert applied.json() == {"results": [
        {"item": str(first.pk), "change": changes[first.pk], "action": "merge", "keys": ["weather"]},
        {"item": str(second.pk), "change": changes[second.pk], "action": "replace", "keys": ["n", "weather"]},
        {"item": str(third.pk), "change": changes[third.pk], "action": "merge", "keys": ["n"]},
    ]}
    assert [_stored(i) for i in (first, second, third)] == [{"n": 1, "weather": "sun"}, {"weather": "rain"}, {}]


def test_bulk_entries_that_are_not_objects_are_refused_by_item(api_for, people):
    first, second = _item(people["folder"], "1.jpg", {"a": 1}), _item(people["folder"], "2.jpg", {"a": 1})
    api = api_for(people["editor"])

    null = api.post("/api/v1/metadata/bulk", json={"mode": "merge", "items": {str(first.pk): {"a": 2},
                                                                              str(second.pk): None}})
    number = api.post("/api/v1/metadata/bulk", json={"mode": "merge", "items": {str(first.pk): {"a": 2},
                                                                                str(second.pk): 5}})

    assert (null.status_code, null.json()) == (400, {"items": {str(second.pk): ["This field may not be null."]}})
    assert (number.status_code, number.json()) == (400, {"metadata": [
        f"item {second.pk}: metadata must be a JSON object"]})
    assert [_stored(i) for i in (first, second)] == [{"a": 1}, {"a": 1}]


def test_bulk_response_reports_its_server_time(api_for, people):
    item = _item(people["folder"], metadata={"a": 1})
    response = api_for(people["editor"]).post("/api/v1/metadata/bulk", json={"mode": "merge",
                                                                             "items": {str(item.pk): {"a": 2}}})
    assert response.status_code == 200
    name, duration = response.headers["Server-Timing"].split(";dur=")
    assert name == "app" and float(duration) > 0


def test_bulk_over_a_thousand_items_is_sent_to_a_job(api_for, people):
    item = _item(people["folder"], metadata={"a": 1})
    api = api_for(people["editor"])
    message = {"items": ["At most 1,000 items per request; send larger sets as a metadata job."]}
    many = {str(uuid.uuid4()): {"a": 2} for _ in range(1000)} | {str(item.pk): {"a": 2}}

    assert (lambda r: (r.status_code, r.json()))(api.post("/api/v1/metadata/bulk", json={
        "mode": "replace", "items": many})) == (400, message)
    updates = [{"item": pk, "mode": "merge", "metadata": {"a": 2}} for pk in many]
    assert (lambda r: (r.status_code, r.json()))(api.post("/api/v1/metadata/bulk", json={
        "updates": updates})) == (400, message)
    assert _stored(item) == {"a": 1}


def test_history_lists_exact_entries_and_revert_restores(api_for, people):
    item = _item(people["folder"], metadata={"a": 1})
    api = api_for(people["editor"])
    path = f"/api/v1/items/{item.pk}/metadata"
    api.patch(path, json={"b": 2}, headers=MERGE_PATCH)
    api.put(path, json={"c": 3})
    merge, replace = MetadataChange.objects.order_by("pk")

    history = api.get(f"{path}/history")

    assert history.status_code == 200
    assert history.json() == {"next": None, "previous": None, "results": [
        {"id": replace.pk, "at": _at(replace), "user": "editor@example.com", "action": "replace",
         "keys": ["a", "b", "c"], "before": {"a": 1, "b": 2}, "after": {"c": 3}, "reverts": None},
        {"id": merge.pk, "at": _at(merge), "user": "editor@example.com", "action": "merge",
         "keys": ["b"], "before": {"a": 1}, "after": {"a": 1, "b": 2}, "reverts": None},
    ]}

    reverted = api.post(f"{path}/history/{replace.pk}/revert")

    assert reverted.status_code == 200, reverted.text
    revert = MetadataChange.objects.get(action="revert")
    assert reverted.json() == {"id": revert.pk, "at": _at(revert), "user": "editor@example.com", "action": "revert",
                               "keys": ["a", "b", "c"], "before": {"c": 3}, "after": {"a": 1, "b": 2},
                               "reverts": replace.pk}
    assert api.get(path).json() == {"a": 1, "b": 2}
    assert [c["id"] for c in api.get(f"{path}/history").json()["results"]] == [revert.pk, replace.pk, merge.pk]
    other = _item(people["folder"], "b.jpg")
    assert api.post(f"/api/v1/items/{other.pk}/metadata/history/{merge.pk}/revert").status_code == 404
    assert _stored(item) == {"a": 1, "b": 2}


def test_embedding_values_round_trip_exactly(api_for, people, org):
    schema_key_add(user=people["admin"], organisation=org, name="clip", type="embedding", size=4)
    video = _item(people["folder"], "v.mp4", item_type=ItemType.VIDEO, fps=10.0, frame_count=50)
    api = api_for(people["editor"])
    metadata = {"clip": [0.1, -2.5, 0.333, 1234.5], "site": "Algiers",
                "$encord": {"frames": {"13": {"clip": [1e-07, 0.5, -0.75, 3.25], "cars": 2}}}}

    assert api.put(f"/api/v1/items/{video.pk}/metadata", json=metadata).json() == metadata
    assert api.get(f"/api/v1/items/{video.pk}/metadata").json() == metadata
    assert _stored(video) == {"site": "Algiers", "$encord": {"frames": {"13": {"cars": 2}}}}
    assert sorted(Embedding.objects.filter(item=video).values_list("frame", flat=True), key=str) == [13, None]
    assert api.get(f"/api/v1/items/{video.pk}").json()["client_metadata"] == metadata
    listing = api.get(f"/api/v1/folders/{people['folder'].pk}/items").json()["results"]
    assert [entry["client_metadata"] for entry in listing] == [metadata]


def test_frames_lists_key_and_sampled_frames(api_for, people):
    video = _item(people["folder"], "v.mp4", item_type=ItemType.VIDEO, fps=10.0, frame_count=50)
    api = api_for(people["editor"])
    path = f"/api/v1/items/{video.pk}/metadata"
    api.put(path, json={"$encord": {"config": {"sampling_rate": 1}, "frames": {"13": {"cars": 4}, "20": {}}}})

    body = api.get(f"/api/v1/items/{video.pk}/frames").json()

    assert {k: body[k] for k in ("item", "fps", "frame_count", "sampling_rate", "keyframe_mode")} == {
        "item": str(video.pk), "fps": 10.0, "frame_count": 50, "sampling_rate": 1.0, "keyframe_mode": "frame"}
    assert [(f["frame"], f["time"], f["key_frame"], f["sampled"], f["metadata"]) for f in body["frames"]] == [
        (0, 0.0, False, True, None), (10, 1.0, False, True, None), (13, 1.3, True, False, {"cars": 4}),
        (20, 2.0, True, True, {}), (30, 3.0, False, True, None), (40, 4.0, False, True, None)]

    api.patch(path, json={"$encord": {"config": {"sampling_rate": 0}}}, headers=MERGE_PATCH)
    frames = api.get(f"/api/v1/items/{video.pk}/frames").json()["frames"]
    assert [(f["frame"], f["key_frame"], f["sampled"]) for f in frames] == [
        (0, False, True), (13, True, False), (20, True, False)]
    image = _item(people["folder"], "a.jpg")
    assert api.get(f"/api/v1/items/{image.pk}/frames").status_code == 404


def test_viewers_read_outsiders_get_404_anonymous_401(api_for, people):
    item = _item(people["folder"], metadata={"a": 1})
    path = f"/api/v1/items/{item.pk}/metadata"
    change = MetadataChange.objects.create(item=item, user=people["editor"], action="merge", keys=["a"],
                                           before={}, after={"a": 1})
    viewer = api_for(people["viewer"])
    assert viewer.get(path).json() == {"a": 1}
    assert viewer.get(f"{path}/history").status_code == 200
    assert viewer.get(f"/api/v1/items/{item.pk}/frames").status_code == 404  # an image: no frames
    for response in (viewer.put(path, json={"a": 2}), viewer.patch(path, json={"a": 2}),
                     viewer.post(f"{path}/history/{change.pk}/revert"),
                     viewer.post("/api/v1/metadata/bulk", json={"mode": "merge", "items": {str(item.pk): {"a": 2}}})):
        assert response.status_code == 403, response.text
    for name in ("outsider", "stranger"):
        api = api_for(people[name])
        for response in (api.get(path), api.put(path, json={"a": 2}), api.patch(path, json={"a": 2}),
                         api.get(f"{path}/history"), api.post(f"{path}/history/{change.pk}/revert")):
            assert (response.status_code, response.json()) == (404, {"detail": "No such item."})
        bulk = api.post("/api/v1/metadata/bulk", json={"mode": "merge", "items": {str(item.pk): {"a": 2}}})
        assert (bulk.status_code, bulk.json()) == (400, {"items": [f"No such item: {item.pk}"]})
    anonymous = api_for(None)
    for response in (anonymous.get(path), anonymous.put(path, json={"a": 2}),
                     anonymous.post("/api/v1/metadata/bulk", json={"mode": "merge", "items": {}})):
        assert response.status_code == 401
    assert _stored(item) == {"a": 1}
    assert MetadataChange.objects.count() == 1


def test_item_page_form_sends_only_changes_and_edits_untyped_objects_key_by_key(client, people, org):
    """The item page's typed form (no browser needed): a merge of the changed keys only."""
    schema_key_add(user=people["admin"], organisation=org, name="loc", type="geospatial")
    item = _item(people["folder"], metadata={"free": {"x": 1, "y": 2}, "loc": {"latitude": 1.5, "longitude": 2},
                                             "keep": "me"})
    client.force_login(people["editor"])
    shown = {"initial-json/free": '{"x": 1, "y": 2}', "initial-key/loc/latitude": "1.5",
             "initial-key/loc/longitude": "2", "initial-json/keep": '"me"'}

    response = client.post(f"/metadata/items/{item.pk}/fields", shown | {
        "json/free": '{"x": 1, "z": 3}', "key/loc/latitude": "1.5", "key/loc/longitude": "-3.25", "json/keep": '"me"',
        "new_key": "added", "new_value": "[1]"}, HTTP_HX_REQUEST="true")

    assert (response.status_code, response["HX-Redirect"]) == (204, f"/items/{item.pk}/")
    assert MetadataChange.objects.get().after == {
        "free": {"x": 1, "z": 3}, "loc": {"latitude": 1.5, "longitude": -3.25}, "keep": "me", "added": [1]}
    refused = client.post(f"/metadata/items/{item.pk}/fields", {
        "initial-key/loc/latitude": "1.5", "initial-key/loc/longitude": "-3.25", "key/loc/latitude": "",
        "key/loc/longitude": "7"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400
    assert ('<li>key "loc": expected geospatial {"latitude": -90..90, "longitude": -180..180}, got {"longitude": 7}'
            '</li>') in html.unescape(refused.content.decode())
    assert MetadataChange.objects.count() == 1
