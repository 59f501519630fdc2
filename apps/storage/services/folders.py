"""Writes on the folder tree: create, rename, move, trash, restore, membership.

Every function checks the caller's role itself, so the REST API, the UI, the admin and the Encord
layer cannot disagree about who may do what.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.core.errors import ServiceValidationError
from apps.core.models import Organisation, OrganisationRole, User
from apps.storage.models import Folder, FolderMember, FolderRole
from apps.storage.permissions import folder_require, folder_role, organisation_require_member

NAME_MAX = 255


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ServiceValidationError({"name": "A folder needs a name."})
    if "/" in name:
        raise ServiceValidationError({"name": "A folder name cannot contain '/'."})
    if len(name) > NAME_MAX:
        raise ServiceValidationError({"name": f"At most {NAME_MAX} characters."})
    return name


def _name_taken(*, organisation_id, parent_id, name: str, exclude=None) -> bool:
    siblings = Folder.objects.live().filter(organisation_id=organisation_id, parent_id=parent_id, name=name)
    if exclude is not None:
        siblings = siblings.exclude(pk=exclude.pk)
    return siblings.exists()


def _save_unique(folder: Folder) -> None:
    """Save, turning the live-name uniqueness constraint into a field error (races included)."""
    try:
        with transaction.atomic():
            folder.save()
    except IntegrityError as exc:
        if "unique_live_folder_name" in str(exc):
            raise ServiceValidationError({"name": f"A folder named '{folder.name}' already exists here."}) from exc
        raise


@transaction.atomic
def folder_create(
    *, user: User, name: str, parent: Folder | None = None, organisation: Organisation | None = None,
    description: str = "", client_metadata: dict | None = None,
) -> Folder:
    """Create a folder. Top level: any organisation member, who becomes its admin. Below: editors."""
    name = _clean_name(name)
    if parent is not None:
        if parent.deleted_at is not None:
            raise ServiceValidationError({"parent": "The parent folder is in the trash."})
        folder_require(user=user, folder=parent, role=FolderRole.EDITOR)
        organisation = parent.organisation
    elif organisation is None:
        raise ServiceValidationError({"organisation": "A top-level folder needs an organisation."})
    else:
        organisation_require_member(user=user, organisation=organisation)
    if _name_taken(organisation_id=organisation.pk, parent_id=parent.pk if parent else None, name=name):
        raise ServiceValidationError({"name": f"A folder named '{name}' already exists here."})
    folder = Folder(
        organisation=organisation, parent=parent, name=name, description=description or "",
        client_metadata=client_metadata or {}, created_by=user,
    )
    if parent is None:
        folder.root_id = folder.pk
        folder.path = []
    else:
        folder.root_id = parent.root_id
        folder.path = [*parent.path, parent.pk]
    _save_unique(folder)
    if parent is None:
        FolderMember.objects.create(folder=folder, user=user, role=FolderRole.ADMIN)
    return folder


@transaction.atomic
def folder_update(
    *, user: User, folder: Folder, name: str | None = None, description: str | None = None,
    client_metadata: dict | None = None,
) -> Folder:
    """Rename a folder or change its description/metadata (editors)."""
    folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
    if name is not None:
        folder.name = _clean_name(name)
    if description is not None:
        folder.description = description
    if client_metadata is not None:
        if not isinstance(client_metadata, dict):
            raise ServiceValidationError({"client_metadata": "Must be a JSON object."})
        folder.client_metadata = client_metadata
    _save_unique(folder)
    return folder


@transaction.atomic
def folder_move(*, user: User, folder: Folder, new_parent: Folder | None) -> Folder:
    """Move a folder (and its subtree) under ``new_parent``, or to the top level when None.

    Within one tree this needs the editor role; across trees, admin on the source tree and editor on
    the destination, because the moved data changes who can see it. A top-level folder that moves
    below another loses its own member list (it now inherits); a subfolder that becomes top-level
    keeps the members of the tree it came from, so nobody loses access by the move.
    """
    old_root_id = folder.root_id
    if new_parent is not None and new_parent.root_id == old_root_id:
        folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
    else:
        folder_require(user=user, folder=folder, role=FolderRole.ADMIN)
    if new_parent is not None:
        if new_parent.deleted_at is not None:
            raise ServiceValidationError({"parent": "The destination folder is in the trash."})
        folder_require(user=user, folder=new_parent, role=FolderRole.EDITOR)
        if new_parent.organisation_id != folder.organisation_id:
            raise ServiceValidationError({"parent": "Folders cannot move between organisations."})
        if new_parent.pk == folder.pk or folder.pk in new_parent.path:
            raise ServiceValidationError({"parent": "A folder cannot move into itself or its own subfolder."})
    if (new_parent.pk if new_parent else None) == folder.parent_id:
        return folder
    if _name_taken(
        organisation_id=folder.organisation_id, parent_id=new_parent.pk if new_parent else None,
        name=folder.name, exclude=folder,
    ):
        raise ServiceValidationError({"parent": f"The destination already has a folder named '{folder.name}'."})

    new_prefix = [*new_parent.path, new_parent.pk] if new_parent else []
    new_root_id = new_parent.root_id if new_parent else folder.pk
    depth = len(folder.path)
    with connection.cursor() as cursor:
        # Descendants keep the part of their path below ``folder``: new_prefix + [folder] + tail.
        cursor.execute(
            f"UPDATE {Folder._meta.db_table} SET path = %s::uuid[] || path[%s:], root_id = %s "
            "WHERE path @> ARRAY[%s]::uuid[]",
            [[*new_prefix, folder.pk], depth + 2, new_root_id, folder.pk],
        )
    was_top_level = folder.parent_id is None
    folder.parent = new_parent
    folder.path = new_prefix
    folder.root_id = new_root_id
    _save_unique(folder)
    if was_top_level and new_parent is not None:
        FolderMember.objects.filter(folder=folder).delete()
    elif not was_top_level and new_parent is None:
        FolderMember.objects.bulk_create(
            [FolderMember(folder=folder, user_id=m.user_id, role=m.role, organisation_member_id=m.organisation_member_id)
             for m in FolderMember.objects.filter(folder_id=old_root_id)],
            ignore_conflicts=True,
        )
        FolderMember.objects.update_or_create(folder=folder, user=user, defaults={"role": FolderRole.ADMIN})
    return folder


@transaction.atomic
def folder_trash(*, user: User, folder: Folder) -> uuid.UUID:
    """Move a folder and everything below it to the trash (admins). Returns the trash batch id."""
    folder_require(user=user, folder=folder, role=FolderRole.ADMIN)
    batch = uuid.uuid4()
    Folder.objects.live().subtree_of(folder).update(
        deleted_at=timezone.now(), deleted_by=user, trash_batch=batch
    )
    folder.refresh_from_db()
    return batch


@transaction.atomic
def folder_restore(*, user: User, folder: Folder) -> Folder:
    """Bring a trashed folder back with everything that was deleted together with it.

    Allowed to admins of the folder's tree and organisation admins. Refused while the parent is
    still in the trash, or when a live sibling has taken the name meanwhile.
    """
    if folder.deleted_at is None:
        return folder
    folder_require(user=user, folder=folder, role=FolderRole.ADMIN)
    if folder.parent is not None and folder.parent.deleted_at is not None:
        raise ServiceValidationError({"parent": "Restore the parent folder first; it is in the trash too."})
    if _name_taken(organisation_id=folder.organisation_id, parent_id=folder.parent_id, name=folder.name):
        raise ServiceValidationError({"name": f"A folder named '{folder.name}' exists here now; rename it first."})
    Folder.objects.filter(trash_batch=folder.trash_batch).update(
        deleted_at=None, deleted_by=None, trash_batch=None
    )
    folder.refresh_from_db()
    return folder


@transaction.atomic
def folder_member_set(*, user: User, folder: Folder, member: User, role: str) -> FolderMember:
    """Give ``member`` a role on a top-level folder (folder admins). They must be in the organisation."""
    folder_require(user=user, folder=folder, role=FolderRole.ADMIN)
    if not folder.is_top_level:
        raise ServiceValidationError({"folder": "Members are set on top-level folders; subfolders inherit."})
    if role not in FolderRole.values:
        raise ServiceValidationError({"role": f"Must be one of {', '.join(FolderRole.values)}."})
    if not member.organisation_memberships.filter(organisation_id=folder.organisation_id).exists():
        raise ServiceValidationError({"user": "That user is not in this folder's organisation."})
    obj, _ = FolderMember.objects.update_or_create(folder=folder, user=member, defaults={"role": role})
    return obj


@transaction.atomic
def folder_member_remove(*, user: User, folder: Folder, member: User) -> None:
    folder_require(user=user, folder=folder, role=FolderRole.ADMIN)
    admins = FolderMember.objects.filter(folder=folder, role=FolderRole.ADMIN).exclude(user=member)
    is_org_admin = member.organisation_memberships.filter(
        organisation_id=folder.organisation_id, role=OrganisationRole.ADMIN
    ).exists()
    if not admins.exists() and not is_org_admin and folder_role(user=member, folder=folder) == FolderRole.ADMIN:
        raise ServiceValidationError({"user": "A folder must keep at least one admin."})
    FolderMember.objects.filter(folder=folder, user=member).delete()
