"""Folder access rules: who holds which role on a folder, and the 404-not-403 lookup.

This module holds Loupe's one access rule; every read and write of folders, items and jobs goes
through it (``visible_q`` for querysets, ``folder_role`` for one folder):

* an organisation admin is admin on every folder of the organisation;
* anyone else holds the role of their ``FolderMember`` row on the folder's top-level folder, and
  only while they are still a member of the folder's organisation;
* an anonymous or inactive user holds nothing.

Both halves start from ``organisation_memberships`` (current rows of an active user), so a folder
membership that outlived its organisation membership grants nothing, whichever path removed it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from apps.core.models import OrganisationRole
from apps.core.selectors import organisation_memberships
from apps.storage.models import Folder, FolderMember, FolderRole


def folder_grants(*, user) -> QuerySet[FolderMember]:
    """``user``'s folder memberships that count: those in organisations they still belong to."""
    member_of = organisation_memberships(user=user).values("organisation_id")
    return FolderMember.objects.filter(user_id=getattr(user, "pk", None), folder__organisation_id__in=member_of)


def visible_q(user, *, organisation: str = "organisation_id", root: str = "root_id",
              role: str = FolderRole.VIEWER) -> Q:
    """Rows (folders, items, jobs) in folders where ``user`` holds at least ``role`` (by default: may
    read), as a filter.

    ``organisation`` and ``root`` name the row's organisation and its folder's top-level folder. The
    memberships are subqueries of the same statement (never values read earlier), so a removal
    committed before the query is seen by it.
    """
    memberships = organisation_memberships(user=user)
    admin_of = memberships.filter(role=OrganisationRole.ADMIN).values("organisation_id")
    granted = folder_grants(user=user)
    if role != FolderRole.VIEWER:
        granted = granted.filter(role__in=[r for r in FolderRole.values if FolderRole.rank(r) >= FolderRole.rank(role)])
    granted_roots = granted.values("folder_id")
    return Q(**{f"{organisation}__in": admin_of}) | Q(**{f"{root}__in": granted_roots})


def folder_role(*, user, folder: Folder) -> str | None:
    """The effective role of ``user`` on ``folder`` (``visible_q``'s rule for one folder)."""
    organisation_role = (organisation_memberships(user=user).filter(organisation_id=folder.organisation_id)
                         .values_list("role", flat=True).first())
    if organisation_role is None:
        return None
    if organisation_role == OrganisationRole.ADMIN:
        return FolderRole.ADMIN
    return (FolderMember.objects.filter(folder_id=folder.root_id, user_id=user.pk)
            .values_list("role", flat=True).first())


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
    """``user``'s role in ``organisation``; a 404 when they are not (or no longer) in it."""
    role = organisation_memberships(user=user).filter(organisation=organisation).values_list("role", flat=True).first()
    if role is None:
        raise Http404("No such organisation.")
    return role
