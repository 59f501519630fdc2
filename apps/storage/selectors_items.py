"""Reads on items and import jobs, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from apps.storage.models import Folder, FolderRole, ImportJob, Item
from apps.storage.permissions import folder_require


def item_list(*, folder: Folder, item_types: list[str] | None = None, search: str = "") -> QuerySet[Item]:
    """Live top-level items of a folder (the caller has checked the folder)."""
    qs = Item.objects.live().top_level().filter(folder=folder)
    if item_types:
        qs = qs.filter(item_type__in=item_types)
    if search:
        qs = qs.filter(name__icontains=search)
    return qs


def item_children(*, item: Item) -> QuerySet[Item]:
    return Item.objects.live().filter(parent=item).order_by("position")


def item_get_for(*, user, pk, role: str = FolderRole.VIEWER, include_trashed: bool = False) -> Item:
    """An item by uuid for ``user`` with at least ``role`` on its folder; 404 when unknown or invisible."""
    qs = Item.objects.select_related("folder", "parent", "integration")
    if not include_trashed:
        qs = qs.filter(deleted_at__isnull=True, folder__deleted_at__isnull=True)
    item = qs.filter(pk=pk).first()
    if item is None:
        raise Http404("No such item.")
    try:
        folder_require(user=user, folder=item.folder, role=role)
    except Http404 as exc:
        raise Http404("No such item.") from exc  # the same answer as for an unknown uuid
    return item


def items_get_for(*, user, pks: list, role: str = FolderRole.VIEWER, defer: tuple[str, ...] = ()) -> list[Item]:
    """Live items by uuid, in the order asked, each folder checked once (not once per item).

    One unknown or invisible uuid makes the whole call a 404 naming it, as ``item_get_for`` would.
    """
    found = {item.pk: item for item in Item.objects.live().defer(*defer)
             .filter(pk__in=pks, folder__deleted_at__isnull=True)}
    allowed = {}
    for folder in Folder.objects.filter(pk__in={item.folder_id for item in found.values()}):
        try:
            folder_require(user=user, folder=folder, role=role)
            allowed[folder.pk] = True
        except Http404:
            allowed[folder.pk] = False
    for pk in pks:
        if pk not in found or not allowed[found[pk].folder_id]:
            raise Http404(f"No such item: {pk}")
    return [found[pk] for pk in pks]


def item_trash_list(*, user) -> QuerySet[Item]:
    """Trashed top-level items in live folders the user can see."""
    return (
        Item.objects.filter(deleted_at__isnull=False, parent__isnull=True, folder__deleted_at__isnull=True)
        .visible_to(user).select_related("folder").order_by("-deleted_at")
    )


def import_job_get_for(*, user, pk) -> ImportJob:
    """An import job by uuid for a reader of its folder; 404 when unknown, invisible or in the trash
    (a trashed folder's jobs answer as the folder does)."""
    job = (ImportJob.objects.with_counts().select_related("folder", "integration", "created_by")
           .filter(pk=pk, folder__deleted_at__isnull=True).first())
    if job is None:
        raise Http404("No such import job.")
    try:
        folder_require(user=user, folder=job.folder, role=FolderRole.VIEWER)
    except Http404 as exc:
        raise Http404("No such import job.") from exc
    return job


RECENT_JOBS = 8  # jobs a folder page lists under its items


def import_job_list(*, folder: Folder) -> QuerySet[ImportJob]:
    return ImportJob.objects.with_counts().filter(folder=folder).select_related("created_by")
