"""Folder access rules: who holds which role on a folder, and the 404-not-403 lookup."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from apps.core.models import OrganisationMember, OrganisationRole
from apps.storage.models import Folder, FolderMember, FolderRole


def folder_role(*, user, folder: Folder) -> str | None:
    """The effective role of ``user`` on ``folder``: organisation admins are admins everywhere in it."""
    if user is None or not user.is_authenticated:
        return None
    if OrganisationMember.objects.filter(
        organisation_id=folder.organisation_id, user=user, role=OrganisationRole.ADMIN
    ).exists():
        return FolderRole.ADMIN
    member = FolderMember.objects.filter(folder_id=folder.root_id, user=user).only("role").first()
    return member.role if member else None


def folder_require(*, user, folder: Folder, role: str) -> str:
    """Raise unless ``user`` holds at least ``role``; a folder they cannot see at all is a 404."""
    actual = folder_role(user=user, folder=folder)
    if actual is None:
        raise Http404("No such folder.")
    if FolderRole.rank(actual) < FolderRole.rank(role):
        raise PermissionDenied(f"This needs the {role} role on the folder; you are {actual}.")
    return actual


def folder_get_for(*, user, pk, role: str = FolderRole.VIEWER, include_trashed: bool = False) -> Folder:
    """Fetch a folder by uuid for ``user`` with at least ``role``; 404 when unknown or invisible."""
    queryset = Folder.objects.all() if include_trashed else Folder.objects.live()
    folder = queryset.select_related("organisation", "parent").filter(pk=pk).first()
    if folder is None:
        raise Http404("No such folder.")
    folder_require(user=user, folder=folder, role=role)
    return folder


def organisation_require_member(*, user, organisation) -> str:
    member = OrganisationMember.objects.filter(organisation=organisation, user=user).first()
    if member is None:
        raise Http404("No such organisation.")
    return member.role
