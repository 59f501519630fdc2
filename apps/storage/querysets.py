"""Chainable folder queries."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class FolderQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def trashed(self):
        return self.filter(deleted_at__isnull=False)

    def visible_to(self, user):
        """Folders ``user`` may read (``permissions.visible_q``: the one rule for folders, items and jobs)."""
        from apps.storage.permissions import visible_q

        return self.filter(visible_q(user, organisation="organisation_id", root="root_id"))

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
        """Items in folders ``user`` may read (``permissions.visible_q``, the folders' rule)."""
        from apps.storage.permissions import visible_q

        return self.filter(visible_q(user, organisation="folder__organisation_id", root="folder__root_id"))
