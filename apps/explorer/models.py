"""Saved views: a named Explorer state (scope, filter, sort, layout) that a user opens again later."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from apps.core.models import Organisation, TimestampedModel, UUIDModel

NAME_MAX = 200


class ViewLayout(models.TextChoices):
    GRID = "grid", "Grid"
    TABLE = "table", "Table"


class SavedView(UUIDModel, TimestampedModel):
    """A user's saved Explorer state in one organisation, private to its owner or ``shared`` with the
    organisation's members.

    The state is what ``POST /api/v1/explore/search`` takes (``scope_folder``/``recursive``, the JSON
    ``filter`` tree, the written ``q``, ``sort``) plus how it is shown (``layout``, table ``columns``).
    It is checked against the schema when saved and again when opened (``selectors_views``): the schema
    may have changed since. Opening never widens access: the opener's own permissions decide what a
    shared view shows.

    Names (compared case-insensitively) are unique among one owner's views in an organisation, and
    among the organisation's shared views. A private view may share its name with someone else's shared
    one: refusing it would let a member learn other members' private view names by trying to share.

    ``scope_folder`` cascades: a view of a folder that no longer exists (purged from the trash) has
    nothing to show, and keeping it with a null folder would silently widen it to the organisation.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="saved_views")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=NAME_MAX)
    shared = models.BooleanField(default=False, help_text="Visible to every member of the organisation.")
    scope_folder = models.ForeignKey("storage.Folder", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="+", help_text="None: the whole organisation.")
    recursive = models.BooleanField(default=True, help_text="Include the scope folder's subfolders.")
    filter = models.JSONField(null=True, blank=True, help_text="A filter tree (apps.explorer.filters).")
    q = models.TextField(null=True, blank=True, help_text="A written expression (apps.explorer.expression).")
    sort = models.JSONField(null=True, blank=True, help_text='[{"key"|"field": ..., "desc": bool}]; None: default.')
    layout = models.CharField(max_length=8, choices=ViewLayout.choices, default=ViewLayout.GRID)
    columns = models.JSONField(default=list, blank=True, help_text='Table columns: [{"key"|"field": ...}].')

    class Meta:
        ordering = ["name", "uuid"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "organisation", "owner", name="unique_saved_view_name_per_owner"),
            models.UniqueConstraint(Lower("name"), "organisation", condition=Q(shared=True),
                                    name="unique_shared_saved_view_name"),
            models.CheckConstraint(condition=~Q(name=""), name="saved_view_name_not_blank"),
            models.CheckConstraint(condition=Q(layout__in=ViewLayout.values), name="saved_view_layout_known"),
        ]
        indexes = [models.Index(fields=["organisation", "shared"], name="saved_view_org_shared")]

    def __str__(self) -> str:
        return f"{self.name} ({'shared' if self.shared else 'private'})"
