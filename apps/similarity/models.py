"""The 2-D projection of an embedding key (the scatter plot) and its points.

One ``Projection`` per (organisation, embedding key). Its points live in ``similarity_projectionpoint``,
written by COPY in one transaction with the row's new status, so a reader sees either the old points
or the new ones, never half. The lasso filter leaf reads that table in SQL (``apps.explorer.lasso``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.models import Organisation, TimestampedModel


class ProjectionStatus(models.TextChoices):
    COMPUTING = "computing"
    FRESH = "fresh"
    STALE = "stale"
    FAILED = "failed"


class Projection(TimestampedModel):
    """A key's 2-D map. ``fingerprint`` names the vectors it was computed from (the count and the largest
    id of the key's item-level embeddings: every write replaces rows, so any change moves one of them);
    a fresh projection whose fingerprint differs from the key's current one is reported ``stale``.

    ``status`` is ``computing`` from a request until the task ends (``progress`` 0..1 meanwhile);
    the points of the previous computation stay readable while a new one runs. Written by
    ``apps.similarity.services`` only.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    key = models.ForeignKey("metadata.MetadataKey", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=ProjectionStatus.choices, default=ProjectionStatus.COMPUTING)
    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0)
    method = models.CharField(max_length=32, blank=True)
    params = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Of the vectors the points come from.")
    point_count = models.PositiveIntegerField(default=0)
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="unique_projection_key"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="projection_progress_0_1"),
        ]

    def __str__(self) -> str:
        return f"projection of key {self.key_id} ({self.status})"


class Float4Field(models.FloatField):
    """A ``real`` column: half the bytes of ``double precision``, and all a screen position needs."""

    def db_type(self, connection):
        return "real"


class ProjectionPoint(models.Model):
    """One item's place on a projection. ``ordinal`` (0..n-1) is the point's number in the binary payload
    and in the colour values, so the two can be joined without sending item ids twice.

    ``item`` has no database constraint: the points are rewritten whole on each computation, readers
    join live items anyway, and a per-row foreign key would make deleting items walk this table.
    """

    pk = models.CompositePrimaryKey("projection", "ordinal")
    projection = models.ForeignKey(Projection, on_delete=models.CASCADE, related_name="+")
    ordinal = models.IntegerField()
    item = models.ForeignKey("storage.Item", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                             related_name="+")
    x = Float4Field()
    y = Float4Field()

    class Meta:
        # The lasso's box prefilter: the polygon's bounding box narrows the points by range on x, then y.
        indexes = [models.Index(fields=["projection", "x", "y"], name="similarity_point_xy")]

    def __str__(self) -> str:
        return f"{self.item_id} @ ({self.x:.3f}, {self.y:.3f})"


from apps.similarity.models_duplicates import (  # noqa: E402,F401  (near-duplicates: their own module)
    DuplicateGroup, DuplicateMember, DuplicateMethod, DuplicateScan, FrameHash,
)
