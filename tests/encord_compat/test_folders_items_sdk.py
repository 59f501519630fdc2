"""Folders and items through the SDK (requirement 4 of the Encord compatibility issue)."""

from __future__ import annotations

from apps.storage.models import Folder, Item
from tests.encord_compat.helpers import image_entry, register, video_entry


def test_folders_and_items(run_sdk, sdk_version, alice, org, folder):
    items = register(alice, folder, {"images": [image_entry(n) for n in range(4)],
                                     "videos": [video_entry(n) for n in range(2)]})
    ids = [str(item.pk) for item in items]

    out = run_sdk(sdk_version, "folders_items.py", folder=folder.pk, items=ids)

    top, nested, deeper = (Folder.objects.get(pk=pk) for pk in out["created"])
    assert out["fetched"] == ["sdk-top", "made by the SDK", {"team": "cv"}, None]
    assert out["nested_parent"] == str(top.pk)
    assert out["top_level"] == ["data", "sdk-top"]
    assert out["search_top"] == ["sdk-top"]
    assert out["subfolders"] == ["sdk-nested"]
    assert out["find_folders"] == ["sdk-deeper", "sdk-nested", "sdk-top"]
    assert out["updated"] == ["sdk-top-renamed", "renamed", {"team": "nlp"}]
    assert (top.name, top.client_metadata) == ("sdk-top-renamed", {"team": "nlp"})
    assert out["bulk_order"] == list(reversed(ids))
    assert out["list_desc_paged"] == ["vid-001.mp4", "vid-000.mp4", "img-003.jpg", "img-002.jpg", "img-001.jpg",
                                      "img-000.jpg"]
    assert out["list_search"] == ["img-000.jpg", "img-001.jpg", "img-002.jpg", "img-003.jpg"]
    assert out["list_videos"] == ["vid-000.mp4", "vid-001.mp4"]
    assert out["find_items"] == ["vid-000.mp4", "vid-001.mp4"]
    assert out["types"] == ["image", "video"]
    assert out["item_fields"] == ["img-000.jpg", "image", 640, 480, 1000, "image/jpeg"]
    assert out["moved_parent"] == str(nested.pk)
    assert Item.objects.get(pk=ids[1]).folder_id == deeper.pk
    assert out["after_delete"] == ["img-003.jpg", "vid-000.mp4", "vid-001.mp4"]
    assert Item.objects.get(pk=ids[2]).deleted_at is not None  # in the trash, restorable
    assert out["deeper_parent"] == str(top.pk)
    nested.refresh_from_db()
    assert nested.deleted_at is not None
    assert out["top_subfolders_after_delete"] == ["sdk-deeper"]


def test_folder_pages_cost_the_same_queries_for_1_or_40_folders(alice, org, django_assert_max_num_queries):
    from apps.encord_compat.wire import folders_wire
    from apps.storage.services.folders import folder_create

    top = folder_create(user=alice, name="top", organisation=org)
    folders = [folder_create(user=alice, name=f"sub-{n}", parent=top) for n in range(40)]
    with django_assert_max_num_queries(4):
        assert len(folders_wire(folders, user=alice)) == 40
    with django_assert_max_num_queries(4):
        (one,) = folders_wire(folders[:1], user=alice)
    assert [p["name"] for p in one["pathToRoot"]] == ["top", "sub-0"]
    assert one["userRole"] == "admin"


def test_find_subfolders_is_recursive(run_sdk, alice, org, folder):
    from apps.storage.services.folders import folder_create

    child = folder_create(user=alice, name="child", parent=folder)
    folder_create(user=alice, name="grandchild", parent=child)
    out = run_sdk("newest", "find_subfolders.py", folder=folder.pk)
    assert out == {"direct": ["child"], "recursive": ["child", "grandchild"]}
