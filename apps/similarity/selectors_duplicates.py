"""Reads of the near-duplicate area: the current scan of a method, and pages of its groups as a user sees them.

A user sees a group only through the items they may see (``explore_scope``: live, top-level, in live
folders granted to them): a group is listed when at least two of its members are visible to them, and
only those members are shown or trashed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.core.jobs import JobStatus
from apps.core.pagination import keyset_page
from apps.explorer.selectors import explore_scope
from apps.similarity.models_duplicates import DuplicateGroup, DuplicateMember, DuplicateScan

GROUPS_PAGE_SIZE = 20
GROUPS_PAGE_MAX = 100


@dataclass(frozen=True)
class GroupsPage:
    groups: list[DuplicateGroup]  # each with ``shown_members``: the visible members, nearest first
    next_token: str | None
    previous_token: str | None


def duplicate_scans(*, organisation, method: str, key=None) -> QuerySet[DuplicateScan]:
    """The scans of one method (and key), newest first."""
    return DuplicateScan.objects.filter(organisation=organisation, method=method, key=key).order_by("-created_at")


def duplicate_scan_current(*, organisation, method: str, key=None) -> DuplicateScan | None:
    """The newest finished scan of the method: the one whose groups are stored."""
    return duplicate_scans(organisation=organisation, method=method, key=key).filter(status=JobStatus.DONE).first()


def duplicate_groups_visible(*, user, organisation, scan: DuplicateScan) -> QuerySet[DuplicateGroup]:
    """The scan's groups with at least two members ``user`` may see (annotated ``shown``)."""
    scope = explore_scope(user=user, organisation=organisation).values("pk")
    shown = (DuplicateMember.objects.filter(group=OuterRef("pk"), item__in=scope).order_by()
             .values("group").annotate(n=Count("*")).values("n"))
    return (DuplicateGroup.objects.filter(scan=scan)
            .annotate(shown=Coalesce(Subquery(shown, output_field=IntegerField()), 0)).filter(shown__gte=2))


def duplicate_groups_page(*, user, organisation, scan: DuplicateScan, token: str | None = None,
                          page_size: int = GROUPS_PAGE_SIZE) -> GroupsPage:
    """One page of the scan's visible groups, tightest first; raises ``PageTokenError`` for a bad token."""
    page = keyset_page(duplicate_groups_visible(user=user, organisation=organisation, scan=scan),
                       ordering=["distance"], page_size=page_size, token=token, listing=f"duplicates:{scan.pk}")
    scope = explore_scope(user=user, organisation=organisation).values("pk")
    members = (DuplicateMember.objects.filter(group__in=[group.pk for group in page.rows], item__in=scope)
               .select_related("item").order_by("distance", "item__name", "item_id"))
    by_group: dict[int, list[DuplicateMember]] = {}
    for member in members:
        by_group.setdefault(member.group_id, []).append(member)
    for group in page.rows:
        group.shown_members = by_group.get(group.pk, [])
    return GroupsPage(page.rows, page.next_token, page.previous_token)


def duplicate_group_get(*, user, organisation, pk) -> DuplicateGroup | None:
    """A current group of the organisation that ``user`` can see two members of, else None."""
    current = DuplicateGroup.objects.filter(pk=pk, scan__organisation=organisation).select_related("scan").first()
    if current is None:
        return None
    return duplicate_groups_visible(user=user, organisation=organisation, scan=current.scan).filter(pk=pk).first()
