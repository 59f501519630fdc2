"""Reads of the near-duplicate area: the current scan of a method, and pages of its groups as a user sees them.

A user sees a group only through the items they may see, a queryset the door hands in (the Explorer's
``explore_scope``: live, top-level, in live folders granted to them): a group is listed when at least
two of its members are in it, and only those members are shown or trashed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.core.jobs import JobStatus
from apps.core.pagination import keyset_page
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


def duplicate_groups_visible(*, scan: DuplicateScan, visible_items) -> QuerySet[DuplicateGroup]:
    """The scan's groups with at least two members among ``visible_items`` (annotated ``shown``)."""
    scope = visible_items.values("pk")
    shown = (DuplicateMember.objects.filter(group=OuterRef("pk"), item__in=scope).order_by()
             .values("group").annotate(n=Count("*")).values("n"))
    return (DuplicateGroup.objects.filter(scan=scan)
            .annotate(shown=Coalesce(Subquery(shown, output_field=IntegerField()), 0)).filter(shown__gte=2))


def duplicate_groups_page(*, scan: DuplicateScan, visible_items, token: str | None = None,
                          page_size: int = GROUPS_PAGE_SIZE) -> GroupsPage:
    """One page of the scan's visible groups, tightest first; raises ``PageTokenError`` for a bad token."""
    page = keyset_page(duplicate_groups_visible(scan=scan, visible_items=visible_items),
                       ordering=["distance"], page_size=page_size, token=token, listing=f"duplicates:{scan.pk}")
    scope = visible_items.values("pk")
    members = (DuplicateMember.objects.filter(group__in=[group.pk for group in page.rows], item__in=scope)
               .select_related("item").order_by("distance", "item__name", "item_id"))
    by_group: dict[int, list[DuplicateMember]] = {}
    for member in members:
        by_group.setdefault(member.group_id, []).append(member)
    for group in page.rows:
        group.shown_members = by_group.get(group.pk, [])
    return GroupsPage(page.rows, page.next_token, page.previous_token)


def duplicate_group_get(*, organisation, pk, visible_items) -> DuplicateGroup | None:
    """A current group of the organisation with two members among ``visible_items``, else None."""
    current = DuplicateGroup.objects.filter(pk=pk, scan__organisation=organisation).select_related("scan").first()
    if current is None:
        return None
    return duplicate_groups_visible(scan=current.scan, visible_items=visible_items).filter(pk=pk).first()


# The Explorer's ``duplicate`` field: in a current group (any method) with another member that is not
# trashed. Served by the member table's item index; the other member's visibility is not checked (the
# filter says only that a duplicate exists, never which).
HAS_DUPLICATE_SQL = (
    "EXISTS (SELECT 1 FROM similarity_duplicatemember m JOIN similarity_duplicatemember o "
    "ON o.group_id = m.group_id AND o.item_id <> m.item_id "
    "JOIN storage_item oi ON oi.uuid = o.item_id AND oi.deleted_at IS NULL WHERE m.item_id = {c})"
)
