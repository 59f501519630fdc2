"""Reads on the folder tree, always scoped to what the user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.storage.models import Folder, FolderMember, FolderRole
from apps.storage.permissions import visible_q


def folder_list(*, user, parent: Folder | None = None, top_level: bool = False,
                role: str = FolderRole.VIEWER) -> QuerySet[Folder]:
    """Live folders where ``user`` holds at least ``role`` (by default: may read); children of ``parent``,
    or top-level ones when asked."""
    qs = Folder.objects.live().filter(visible_q(user, organisation="organisation_id", root="root_id", role=role))
    qs = qs.select_related("organisation")
    if parent is not None:
        qs = qs.filter(parent=parent)
    elif top_level:
        qs = qs.filter(parent__isnull=True)
    return qs.order_by("name")


def folder_trash_list(*, user) -> QuerySet[Folder]:
    """Trashed folders the user could restore: the top of each deleted batch only."""
    from django.db.models import Exists, OuterRef

    parent_in_same_batch = Folder.objects.filter(pk=OuterRef("parent_id"), trash_batch=OuterRef("trash_batch"))
    return (
        Folder.objects.trashed().visible_to(user)
        .exclude(Exists(parent_in_same_batch))
        .select_related("parent", "deleted_by")
        .order_by("-deleted_at")
    )


def folder_breadcrumbs(*, folder: Folder) -> list[Folder]:
    """Ancestors, root first, followed by the folder itself."""
    ancestors = {f.pk: f for f in Folder.objects.filter(pk__in=folder.path)}
    return [ancestors[pk] for pk in folder.path if pk in ancestors] + [folder]


def folder_members(*, folder: Folder) -> QuerySet[FolderMember]:
    return FolderMember.objects.filter(folder_id=folder.root_id).select_related("user").order_by("user__email")


def folder_by_path(*, user, organisation, path: str) -> Folder | None:
    """Resolve ``a/b/c`` within an organisation to a live folder the user can see."""
    parent = None
    folder = None
    for name in [part for part in path.strip("/").split("/") if part]:
        folder = (
            Folder.objects.live().visible_to(user)
            .filter(organisation=organisation, parent=parent, name=name).first()
        )
        if folder is None:
            return None
        parent = folder
    return folder
