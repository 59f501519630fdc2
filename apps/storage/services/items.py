"""Writes on items: rename, move between folders, trash and restore.

Containers move and disappear with their children. Permission: editor on the item's folder (and on
the destination for moves); trash and restore follow the same rule, like Encord's item deletion.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.errors import ServiceValidationError
from apps.core.models import User
from apps.storage.models import Folder, FolderRole, Item
from apps.storage.permissions import folder_require

NAME_MAX = 1024


def _family(items: list[Item]):
    ids = [item.pk for item in items]
    return Item.objects.filter(Q(pk__in=ids) | Q(parent_id__in=ids))


@transaction.atomic
def item_update(*, user: User, item: Item, name: str | None = None, description: str | None = None) -> Item:
    """Rename an item or change its description."""
    folder_require(user=user, folder=item.folder, role=FolderRole.EDITOR)
    if name is not None:
        name = name.strip()
        if not name:
            raise ServiceValidationError({"name": "An item needs a name."})
        if len(name) > NAME_MAX:
            raise ServiceValidationError({"name": f"At most {NAME_MAX} characters."})
        item.name = name
    if description is not None:
        item.description = description
    item.updated_at = timezone.now()
    item.save(update_fields=["name", "description", "updated_at"])
    return item


def _require_editor_of_folders(user: User, items: list[Item]) -> None:
    """Editor on every folder the items are in, checked once per folder (a 1,000-item batch is one folder)."""
    for folder in Folder.objects.filter(pk__in={item.folder_id for item in items}):
        folder_require(user=user, folder=folder, role=FolderRole.EDITOR)


@transaction.atomic
def items_move(*, user: User, items: list[Item], destination: Folder) -> int:
    """Move top-level items (with their children) to another folder of the same organisation."""
    if destination.deleted_at is not None:
        raise ServiceValidationError({"destination": "The destination folder is in the trash."})
    folder_require(user=user, folder=destination, role=FolderRole.EDITOR)
    for item in items:
        if item.parent_id is not None:
            raise ServiceValidationError({"items": f"'{item.name}' belongs to a group or series; move the container."})
        if item.organisation_id != destination.organisation_id:
            raise ServiceValidationError({"destination": "Items cannot move between organisations."})
    _require_editor_of_folders(user, items)
    return _family(items).update(folder=destination, updated_at=timezone.now())


@transaction.atomic
def items_trash(*, user: User, items: list[Item]) -> uuid.UUID:
    """Move items (and their children) to the trash; returns the batch id that restores them."""
    _require_editor_of_folders(user, items)
    for item in items:
        if item.parent_id is not None:
            raise ServiceValidationError({"items": f"'{item.name}' belongs to a group or series; delete the container."})
    batch = uuid.uuid4()
    _family(items).filter(deleted_at__isnull=True).update(deleted_at=timezone.now(), trash_batch=batch)
    return batch


@transaction.atomic
def items_restore(*, user: User, items: list[Item]) -> int:
    """Restore trashed items with everything trashed together with them."""
    batches = set()
    for item in items:
        folder_require(user=user, folder=item.folder, role=FolderRole.EDITOR)
        if item.folder.deleted_at is not None:
            raise ServiceValidationError({"items": f"'{item.name}' is in a trashed folder; restore the folder."})
        if item.trash_batch:
            batches.add(item.trash_batch)
    return Item.objects.filter(trash_batch__in=batches).update(deleted_at=None, trash_batch=None)
