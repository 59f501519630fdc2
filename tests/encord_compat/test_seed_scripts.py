"""The seed's storage and metadata scripts, run by the real SDK (newest and 0.1.150) against Loupe.

Each script is the seed's code apart from the domain, the key path and the ids; the assertions read
Loupe's database, so they check what was stored, not what the SDK believes.
"""

from __future__ import annotations

from apps.metadata.records import Frame, MetadataChange
from apps.metadata.services.derived import metadata_with_vectors
from apps.storage.models import Item
from tests.encord_compat.helpers import (
    image_group_entry, register, register_images, schema_add, video_entry,
)


def _metadata(item) -> dict:
    item.refresh_from_db()
    return metadata_with_vectors([item])[item.pk]


def test_folder_items_overwritten_without_bundle(run_sdk, sdk_version, alice, folder):
    items = register_images(alice, folder, 3, metadata={"old": 1})

    listed = run_sdk(sdk_version, "folder_items_update.py", folder=folder.pk)

    assert sorted(listed) == sorted(str(item.pk) for item in items)
    for item in Item.objects.filter(folder=folder):
        assert item.client_metadata == {"metadata": "value", "metadata-2": False}
    assert MetadataChange.objects.filter(item__folder=folder, user=alice).count() == 3


def test_folder_items_overwritten_with_bundle(run_sdk, sdk_version, alice, folder):
    register_images(alice, folder, 5, metadata={"old": 1})

    run_sdk(sdk_version, "folder_items_update_bundle.py", folder=folder.pk)

    assert [item.client_metadata for item in Item.objects.filter(folder=folder)] == \
        [{"metadata-1": "value", "metadata-2": False}] * 5
    assert MetadataChange.objects.filter(item__folder=folder, user=alice, action="replace").count() == 5


def test_per_item_updates_over_folder_listing_with_bundle(run_sdk, sdk_version, alice, folder):
    items = register_images(alice, folder, 4, metadata={"keep": "no"})
    updates = {str(item.pk): {"metadata-1": f"value-{n}", "metadata-2": n % 2 == 0} for n, item in enumerate(items)}

    run_sdk(sdk_version, "folder_items_mapping_bundle.py", folder=folder.pk, updates=updates)

    for item in items:
        item.refresh_from_db()
        assert item.client_metadata == updates[str(item.pk)]


def test_copy_and_update_specific_items(run_sdk, sdk_version, alice, folder):
    items = register_images(alice, folder, 3, metadata={"camera": "front", "metadata": "old"})
    updates = {str(items[0].pk): {"metadata": "metadata-value"}, str(items[1].pk): {"metadata": False}}

    seen = run_sdk(sdk_version, "items_copy_update.py", updates=updates)

    assert seen == {str(items[0].pk): {"camera": "front", "metadata": "metadata-value"},
                    str(items[1].pk): {"camera": "front", "metadata": False}}
    assert _metadata(items[0]) == {"camera": "front", "metadata": "metadata-value"}
    assert _metadata(items[1]) == {"camera": "front", "metadata": False}
    assert _metadata(items[2]) == {"camera": "front", "metadata": "old"}  # not in the updates


def test_copy_and_update_with_bundle_and_encord_frames(run_sdk, sdk_version, alice, org, folder):
    schema_add(alice, org, clip=("embedding", 3))
    images = register_images(alice, folder, 2, metadata={"metadata-1": "a"})
    video, other_video = register(alice, folder, {"videos": [video_entry(0, {"metadata-1": "v"}),
                                                             video_entry(1)]})
    frames = {"25": {"metadata-1": "value", "clip": [1.0, 2.0, 3.0]},
              "50": {"metadata-1": "other", "clip": [0.5, 0.25, 0.125]}}
    updates = {
        str(images[0].pk): {"metadata-1": "value", "metadata-2": "value"},
        str(images[1].pk): {"metadata-2": "value", "$encord": {"frames": [0]}},
        str(video.pk): {"metadata-2": "value", "$encord": {"config": {"sampling_rate": 0, "keyframe_mode": "frame"},
                                                          "frames": frames}},
        str(other_video.pk): {"$encord": {"frames": [111, 113, 117, 119]}},
    }

    seen = run_sdk(sdk_version, "items_copy_update_bundle.py", updates=updates)

    assert _metadata(images[0]) == {"metadata-1": "value", "metadata-2": "value"}
    assert _metadata(video) == {"metadata-1": "v", "metadata-2": "value",
                                "$encord": {"config": {"sampling_rate": 0, "keyframe_mode": "frame"},
                                            "frames": frames}}
    assert seen[str(video.pk)] == _metadata(video)
    assert sorted(Frame.objects.filter(item=video).values_list("frame", flat=True)) == [25, 50]
    assert sorted(Frame.objects.filter(item=other_video).values_list("frame", flat=True)) == [111, 113, 117, 119]


def test_legacy_keyframes_list(run_sdk, sdk_version, alice, folder):
    videos = register(alice, folder, {"videos": [video_entry(n, {"site": "north"}) for n in range(2)]})
    updates = {str(videos[0].pk): {"keyframes": [0, 10, 20, 30, 40]}, str(videos[1].pk): {"keyframes": [5, 15]}}

    run_sdk(sdk_version, "keyframes_update.py", updates=updates)

    assert _metadata(videos[0]) == {"site": "north", "keyframes": [0, 10, 20, 30, 40]}
    assert sorted(Frame.objects.filter(item=videos[0]).values_list("frame", flat=True)) == [0, 10, 20, 30, 40]
    assert sorted(Frame.objects.filter(item=videos[1]).values_list("frame", flat=True)) == [5, 15]


def test_image_group_children_get_their_own_metadata(run_sdk, sdk_version, alice, folder):
    (group,) = register(alice, folder, {"image_groups": [image_group_entry("group-1", 3, {"scene": "night"})]})
    children = list(Item.objects.filter(parent=group).order_by("position"))

    listed = run_sdk(sdk_version, "image_group_children.py", group=group.pk)

    assert listed == [[str(child.pk), child.name, "image"] for child in children]
    for child in children:
        assert _metadata(child) == {"somekindof": "string", "image_name": child.name}
    assert _metadata(group) == {"scene": "night"}


def test_schema_violation_is_refused_with_the_message_and_nothing_changes(run_sdk, sdk_version, alice, org, folder):
    schema_add(alice, org, score="number")
    items = register_images(alice, folder, 3, metadata={"score": 0.1})

    messages = run_sdk(sdk_version, "schema_refusal.py", items=[str(item.pk) for item in items])

    assert len(messages) == 2
    for message in messages:
        assert "score" in message and "number" in message, message
    assert [_metadata(item) for item in items] == [{"score": 0.1}] * 3
    assert MetadataChange.objects.filter(item__in=items).count() == 0
