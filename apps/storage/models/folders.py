"""Folders and who may see them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from apps.core.models import Organisation, OrganisationMember, TimestampedModel, UUIDModel
from apps.storage.querysets import FolderQuerySet


class FolderRole(models.TextChoices):
    """Roles on a top-level folder; everything below it inherits them."""

    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"

    @classmethod
    def rank(cls, role: str | None) -> int:
        return {None: 0, cls.VIEWER: 1, cls.EDITOR: 2, cls.ADMIN: 3}[role]


class Folder(UUIDModel, TimestampedModel):
    """A node of an organisation's folder tree.

    ``root`` (the top-level ancestor, itself for a top-level folder) makes the permission check a
    single join; ``path`` (ancestor uuids, root first) gives breadcrumbs and subtree queries
    (``path @> ARRAY[uuid]``, GIN-indexed) without recursive SQL. Services keep both in step on move.
    Deleting moves a subtree to the trash (``deleted_at``, one ``trash_batch`` per delete).
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="folders")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    root = models.ForeignKey("self", on_delete=models.CASCADE, related_name="+", db_index=True)
    path = ArrayField(models.UUIDField(), default=list, blank=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    client_metadata = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trash_batch = models.UUIDField(null=True, blank=True)

    objects = FolderQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "parent", "name"],
                condition=Q(deleted_at__isnull=True),
                nulls_distinct=False,
                name="unique_live_folder_name",
            ),
            models.CheckConstraint(
                condition=~Q(name="") & ~Q(name__contains="/"), name="folder_name_not_blank_no_slash"
            ),
        ]
        indexes = [GinIndex(fields=["path"], name="folder_path_gin")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("folders:folder", args=[self.pk])  # the Explorer's folder page (apps.explorer.urls_folders)

    @property
    def is_top_level(self) -> bool:
        return self.parent_id is None


class FolderMember(TimestampedModel):
    """A user's role on a top-level folder (and so on everything in it).

    A role is given within the user's membership of the folder's organisation
    (``organisation_member``) and is deleted with it, by whatever path the membership goes (a service,
    the admin, a shell queryset delete): someone re-added later starts with no folder roles. ``save()``
    finds the membership; there is none for a user outside the organisation, and the row is refused.
    """

    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="folder_memberships")
    organisation_member = models.ForeignKey(
        OrganisationMember, on_delete=models.CASCADE, related_name="folder_roles", editable=False
    )
    role = models.CharField(max_length=16, choices=FolderRole.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["folder", "user"], name="unique_folder_member")]

    def __str__(self) -> str:
        return f"{self.user} on {self.folder} ({self.role})"

    def clean(self) -> None:
        if self.organisation_member_id is None and self._membership() is None:
            raise ValidationError({"user": "That user is not in this folder's organisation."})

    def save(self, *args, **kwargs):
        if self.organisation_member_id is None:
            membership = self._membership()
            if membership is None:
                raise ValidationError({"user": "That user is not in this folder's organisation."})
            self.organisation_member = membership
        super().save(*args, **kwargs)

    def _membership(self) -> OrganisationMember | None:
        if self.folder_id is None or self.user_id is None:
            return None
        return OrganisationMember.objects.filter(organisation_id=self.folder.organisation_id, user_id=self.user_id).first()
