"""The seed's storage and metadata scripts, run by the real SDK (newest and 0.1.150) against Loupe."""

from __future__ import annotations

from apps.metadata.records import MetadataChange
from apps.storage.models import Item
from tests.encord_compat.helpers import register_images


def test_folder_items_overwritten_without_bundle(run_sdk, sdk_version, alice, folder):
    items = register_images(alice, folder, 3, metadata={"old": 1})

    listed = run_sdk(sdk_version, "folder_items_update.py", folder=folder.pk)

    assert sorted(listed) == sorted(str(item.pk) for item in items)
    for item in Item.objects.filter(folder=folder):
        assert item.client_metadata == {"metadata": "value", "metadata-2": False}
    assert MetadataChange.objects.filter(item__folder=folder, user=alice).count() == 3
