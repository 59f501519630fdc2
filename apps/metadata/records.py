"""Video frame entries and the history of metadata changes (imported by ``apps.metadata.models``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now


class Frame(models.Model):
    """A key frame of a video: a frame named in ``$encord.frames`` or the legacy ``keyframes`` list.

    It carries its own metadata (embeddings go to ``Embedding`` with this frame number). Sampled
    frames (``$encord.config.sampling_rate``, default one per second, ``0`` = first frame only) have
    no data of their own, so they are not stored: ``frames.sampled_frames`` derives them from the
    video's fps and frame count wherever they are listed. Rows are rebuilt from the item's metadata
    whenever it changes (``services.derived``).
    """

    item = models.ForeignKey("storage.Item", on_delete=models.CASCADE, related_name="frames", db_index=False)
    frame = models.IntegerField()
    metadata = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()))

    class Meta:
        ordering = ["item", "frame"]
        constraints = [models.UniqueConstraint(fields=["item", "frame"], name="unique_item_frame")]

    def __str__(self) -> str:
        return f"{self.item_id} @ {self.frame}"


class MetadataChangeAction(models.TextChoices):
    REPLACE = "replace", "Replaced"
    MERGE = "merge", "Merged"
    REVERT = "revert", "Reverted"


class MetadataChange(models.Model):
    """One change of one item's metadata: who, when, which keys, before and after.

    Written in the same transaction as the change itself, so the history never disagrees with the
    data. ``before``/``after`` are whole objects, which makes any change revertible on its own.
    """

    item = models.ForeignKey("storage.Item", on_delete=models.CASCADE, related_name="metadata_changes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(db_default=Now())
    action = models.CharField(max_length=8, choices=MetadataChangeAction.choices)
    keys = ArrayField(models.CharField(max_length=255), default=list)
    before = models.JSONField()
    after = models.JSONField()
    reverts = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.action} of {self.item_id} at {self.at}"
