"""Metadata writes: replace vs merge, bulk atomicity, concurrency, history and revert, frames, vectors."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections, transaction

from apps.core.errors import ServiceValidationError
from apps.metadata.models import Embedding
from apps.metadata.records import Frame, MetadataChange
from apps.metadata.services.derived import metadata_with_vectors
from apps.metadata.services.schema import schema_key_add
from apps.metadata.services.updates import (
    MetadataWrite, item_metadata_merge, item_metadata_replace, items_metadata_write, metadata_change_revert,
)
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create


@pytest.fixture
def admin(db, org, make_user):
    return make_user(org, role="admin", email="admin@example.com")


@pytest.fixture
def folder(admin, org):
    return folder_create(user=admin, name="data", organisation=org)


def _item(folder, name="a.jpg", item_type=ItemType.IMAGE, metadata=None, **extra):
    return Item.objects.create(
        organisation=folder.organisation, folder=folder, item_type=item_type, name=name,
        url=f"https://h/{name}", client_metadata=metadata or {}, status=ItemStatus.READY, **extra)


def _full(item):
    item.refresh_from_db()
    return metadata_with_vectors([item])[item.pk]


def test_replace_sets_exactly_the_given_object(admin, folder):
    item = _item(folder, metadata={"a": 1, "b": 2})
    item_metadata_replace(user=admin, item=item, metadata={"c": 3})
    assert _full(item) == {"c": 3}


def test_merge_follows_json_merge_patch(admin, folder):
    item = _item(folder, metadata={"a": 1, "b": {"x": 1, "y": 2}, "c": [1, 2], "d": None})
    item_metadata_merge(user=admin, item=item, patch={"a": None, "b": {"y": None, "z": 3}, "c": [3], "e": "new"})
    assert _full(item) == {"b": {"x": 1, "z": 3}, "c": [3], "d": None, "e": "new"}


def test_invalid_value_refuses_the_whole_bulk_request(admin, folder, org):
    schema_key_add(user=admin, organisation=org, name="score", type="number")
    first, second = _item(folder, "1.jpg", metadata={"score": 1}), _item(folder, "2.jpg", metadata={"score": 2})

    with pytest.raises(ServiceValidationError) as caught:
        items_metadata_write(user=admin, writes=[
            MetadataWrite(first.pk, {"score": 10}, merge=True),
            MetadataWrite(second.pk, {"score": "high"}, merge=True),
        ])

    assert caught.value.message_dict == {"metadata": [f'item {second.pk}: key "score": expected number, got "high"']}
    assert (_full(first), _full(second)) == ({"score": 1}, {"score": 2})
    assert MetadataChange.objects.count() == 0


def test_bulk_limit_and_unknown_items(admin, folder):
    item = _item(folder)
    with pytest.raises(ServiceValidationError) as too_many:
        items_metadata_write(user=admin, writes=[MetadataWrite(uuid.uuid4(), {}) for _ in range(1001)])
    assert too_many.value.message_dict == {
        "items": ["At most 1,000 items per request; send larger sets as a metadata job."]}
    ghost = uuid.uuid4()
    with pytest.raises(ServiceValidationError) as unknown:
        items_metadata_write(user=admin, writes=[MetadataWrite(item.pk, {"a": 1}), MetadataWrite(ghost, {"a": 1})])
    assert unknown.value.message_dict == {"items": [f"No such item: {ghost}"]}
    assert _full(item) == {}


def test_viewer_cannot_write_and_outsider_sees_unknown_items(admin, folder, org, make_user):
    from django.core.exceptions import PermissionDenied

    from apps.storage.services.folders import folder_member_set

    item = _item(folder)
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=admin, folder=folder, member=viewer, role="viewer")
    with pytest.raises(PermissionDenied):
        item_metadata_replace(user=viewer, item=item, metadata={"a": 1})
    outsider = make_user(org, email="out@example.com")
    with pytest.raises(ServiceValidationError):
        item_metadata_replace(user=outsider, item=item, metadata={"a": 1})
    assert _full(item) == {}


def test_history_records_and_reverts(admin, folder):
    item = _item(folder, metadata={"a": 1})
    first = item_metadata_merge(user=admin, item=item, patch={"b": 2})
    second = item_metadata_replace(user=admin, item=item, metadata={"c": 3})

    assert list(item.metadata_changes.values_list("action", "keys")) == [
        ("replace", ["a", "b", "c"]), ("merge", ["b"])]
    assert (first.before, first.after) == ({"a": 1}, {"a": 1, "b": 2})

    revert = metadata_change_revert(user=admin, change=second)
    assert _full(item) == {"a": 1, "b": 2}
    assert (revert.action, revert.reverts_id, revert.user_id) == ("revert", second.pk, admin.pk)


def test_embeddings_live_in_pgvector_and_read_back_as_written(admin, folder, org):
    schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=3)
    item = _item(folder)
    item_metadata_replace(user=admin, item=item, metadata={"clip": [0.1, 0.25, -3], "tag": "x"})

    item.refresh_from_db()
    assert item.client_metadata == {"tag": "x"}
    assert _full(item) == {"clip": [0.1, 0.25, -3.0], "tag": "x"}
    assert Embedding.objects.filter(item=item, frame__isnull=True).count() == 1

    item_metadata_merge(user=admin, item=item, patch={"clip": None})
    assert _full(item) == {"tag": "x"}
    assert Embedding.objects.filter(item=item).count() == 0


def test_wrong_embedding_length_is_refused(admin, folder, org):
    schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=3)
    item = _item(folder)
    with pytest.raises(ServiceValidationError) as caught:
        item_metadata_replace(user=admin, item=item, metadata={"clip": [1, 2]})
    assert "clip" in caught.value.message_dict["metadata"][0]
    assert Embedding.objects.count() == 0


def test_video_key_frames_in_frame_and_seconds_modes(admin, folder, org):
    schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=2)
    video = _item(folder, "v.mp4", ItemType.VIDEO, fps=25.0, frame_count=250)
    item_metadata_replace(user=admin, item=video, metadata={"site": "Algiers", "$encord": {
        "config": {"sampling_rate": 0, "keyframe_mode": "frame"},
        "frames": {"0": {"vehicles": 3, "clip": [0.5, 0.5]}, "120": {"vehicles": 5}}}})
    assert list(Frame.objects.filter(item=video).values_list("frame", "metadata")) == [
        (0, {"vehicles": 3}), (120, {"vehicles": 5})]
    assert list(Embedding.objects.filter(item=video).values_list("frame", flat=True)) == [0]
    assert _full(video)["$encord"]["frames"]["0"] == {"vehicles": 3, "clip": [0.5, 0.5]}

    item_metadata_replace(user=admin, item=video, metadata={"$encord": {
        "config": {"keyframe_mode": "seconds"}, "frames": {"2.5": {"clip": [1, 0]}, "4": {}}}})
    assert list(Frame.objects.filter(item=video).values_list("frame", flat=True)) == [62, 100]
    assert list(Embedding.objects.filter(item=video).values_list("frame", flat=True)) == [62]


def test_bulk_merge_beside_vectors_and_key_frames_keeps_them_and_records_them(admin, folder, org):
    # Rows without derived data are written by one SQL statement; rows with vectors or key frames
    # take the Python path. A bulk write mixing them must record every row the same way.
    schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=2)
    plain = _item(folder, "p.jpg", metadata={"a": 1})
    vectors = _item(folder, "v.jpg")
    item_metadata_replace(user=admin, item=vectors, metadata={"clip": [1, 0], "a": 1})
    video = _item(folder, "v.mp4", ItemType.VIDEO, fps=25.0, frame_count=250,
                  metadata={"a": 1, "$encord": {"frames": {"5": {"cars": 2}}}})
    item_metadata_merge(user=admin, item=video, patch={"a": 1})  # builds the frame rows
    frame_ids = list(Frame.objects.filter(item=video).values_list("pk", flat=True))

    changes = items_metadata_write(user=admin, writes=[
        MetadataWrite(item.pk, {"a": 2, "b": None}, merge=True) for item in (plain, vectors, video)])

    assert [(c.item_id, c.action, c.keys) for c in changes] == [
        (plain.pk, "merge", ["a"]), (vectors.pk, "merge", ["a"]), (video.pk, "merge", ["a"])]
    assert [(c.before["a"], c.after["a"]) for c in changes] == [(1, 2)] * 3
    assert changes[1].after == {"clip": [1.0, 0.0], "a": 2}
    assert _full(vectors) == {"clip": [1.0, 0.0], "a": 2}
    assert _full(video) == {"a": 2, "$encord": {"frames": {"5": {"cars": 2}}}}
    assert list(Frame.objects.filter(item=video).values_list("pk", flat=True)) == frame_ids


def test_history_foreign_keys_checked_or_held_give_the_same_history(admin, folder, monkeypatch):
    # With the right to set session_replication_role the write skips the per-row foreign-key checks
    # (the rows they would check are locked instead); without it they run. Same result either way,
    # and the caller's transaction is back to checking every foreign key afterwards.
    from contextlib import nullcontext

    from apps.metadata.services import updates

    first, second = _item(folder, "1.jpg", metadata={"a": 1}), _item(folder, "2.jpg", metadata={"a": 1})
    with transaction.atomic():
        held = items_metadata_write(user=admin, writes=[MetadataWrite(first.pk, {"a": 2}, merge=True)])
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('session_replication_role')")
            assert cursor.fetchone()[0] == "origin"
    monkeypatch.setattr(updates, "_history_references_held", lambda cursor, **kwargs: nullcontext())
    checked = items_metadata_write(user=admin, writes=[MetadataWrite(second.pk, {"a": 2}, merge=True)])
    revert = metadata_change_revert(user=admin, change=held[0])

    assert [(c.keys, c.before, c.after, c.user_id) for c in held + checked] == [(["a"], {"a": 1}, {"a": 2}, admin.pk)] * 2
    assert (revert.reverts_id, _full(first)) == (held[0].pk, {"a": 1})


def test_a_failed_write_leaves_the_transaction_checking_foreign_keys(admin, folder, monkeypatch):
    import psycopg

    from apps.metadata.services import updates

    item = _item(folder, metadata={"a": 1})
    monkeypatch.setattr(updates, "_WRITE_SQL", "SELECT 1/0")
    with transaction.atomic():
        with pytest.raises(psycopg.Error, match="division by zero"):
            items_metadata_write(user=admin, writes=[MetadataWrite(item.pk, {"a": 2}, merge=True)])
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('session_replication_role')")
            assert cursor.fetchone()[0] == "origin"
    assert _full(item) == {"a": 1}


def test_changed_keys_of_a_replace_and_of_nested_merges(admin, folder):
    item = _item(folder, metadata={"a": 1, "b": {"x": 1}, "c": "same", "z": 0})
    first = item_metadata_merge(user=admin, item=item, patch={"b": {"x": None, "y": 2}, "c": "same", "new": None})
    second = item_metadata_replace(user=admin, item=item, metadata={"c": "same", "b": {"y": 2}, "d": [1]})

    assert (first.keys, first.after) == (["b"], {"a": 1, "b": {"y": 2}, "c": "same", "z": 0})
    assert (second.keys, second.before, second.after) == (
        ["a", "d", "z"], {"a": 1, "b": {"y": 2}, "c": "same", "z": 0}, {"c": "same", "b": {"y": 2}, "d": [1]})


def test_legacy_keyframes_and_frame_lists(admin, folder):
    video = _item(folder, "v.mp4", ItemType.VIDEO, fps=30.0, frame_count=90)
    item_metadata_merge(user=admin, item=video, patch={"keyframes": [13, 17]})
    assert list(Frame.objects.filter(item=video).values_list("frame", flat=True)) == [13, 17]
    item_metadata_merge(user=admin, item=video, patch={"$encord": {"frames": [111, 119]}})
    assert list(Frame.objects.filter(item=video).values_list("frame", flat=True)) == [13, 17, 111, 119]


@pytest.mark.django_db(transaction=True)
def test_concurrent_merges_on_the_same_items_lose_nothing(org, make_user):
    admin = make_user(org, role="admin", email="admin@example.com")
    folder = folder_create(user=admin, name="data", organisation=org)
    items = [_item(folder, f"{i}.jpg") for i in range(20)]
    errors = []

    def merge(worker: int):
        try:
            for round_ in range(5):
                items_metadata_write(user=admin, writes=[
                    MetadataWrite(item.pk, {f"w{worker}r{round_}": worker}, merge=True) for item in items])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=merge, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    expected = {f"w{w}r{r}": w for w in range(4) for r in range(5)}
    assert all(_full(item) == expected for item in items)
    assert MetadataChange.objects.count() == 20 * 4 * 5
    connection.close()
