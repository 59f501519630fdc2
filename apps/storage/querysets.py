"""Chainable folder queries."""

from __future__ import annotations

from django.db import models
from django.db.models import Exists, OuterRef, Q


class FolderQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def trashed(self):
        return self.filter(deleted_at__isnull=False)

    def visible_to(self, user):
        """Folders ``user`` may read: all of their admin organisations', plus trees they are members of."""
        if user is None or not user.is_authenticated:
            return self.none()
        from apps.core.selectors import organisation_admin_ids
        from apps.storage.models import FolderMember

        # EXISTS rather than a join: one row per folder, and no DISTINCT over large listings.
        member = FolderMember.objects.filter(folder_id=OuterRef("root_id"), user=user)
        return self.filter(Q(organisation_id__in=organisation_admin_ids(user=user)) | Q(Exists(member)))

    def subtree_of(self, folder):
        """``folder`` and everything below it."""
        return self.filter(Q(pk=folder.pk) | Q(path__contains=[folder.pk]))


class ItemQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def top_level(self):
        """Items shown in a folder: files and containers, not the children of containers."""
        return self.filter(parent__isnull=True)

    def visible_to(self, user):
        """Items in folders ``user`` may read (same rule as folders: tree membership or org admin)."""
        if user is None or not user.is_authenticated:
            return self.none()
        from apps.core.selectors import organisation_admin_ids
        from apps.storage.models import FolderMember

        member = FolderMember.objects.filter(folder_id=OuterRef("folder__root_id"), user=user)
        return self.filter(Q(organisation_id__in=organisation_admin_ids(user=user)) | Q(Exists(member)))
