"""Near-duplicates: perceptual hashes of video frames, and the duplicate groups a scan finds.

Item-level hashes (images, video posters) live on ``storage.Item.phash``; the strip frames' hashes
live here (storage hands them over through its ``video_frame_hashes_store`` hook). A
``DuplicateScan`` is one run of the grouping for one method (perceptual hash, or one embedding key)
at one threshold; when it finishes, its groups replace those of every earlier scan of the same
method, so an organisation has one current set of groups per method.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.jobs import Job
from apps.core.models import Organisation, UUIDModel


class FrameHash(models.Model):
    """The pHash of one video strip frame (written by the probing worker, replaced on a re-probe)."""

    id = models.BigAutoField(primary_key=True)
    item = models.ForeignKey("storage.Item", on_delete=models.CASCADE, related_name="+", db_index=False)
    frame = models.IntegerField()
    phash = models.BigIntegerField(help_text="64-bit pHash as a signed bigint (see apps.storage.phashes).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "frame"], name="similarity_framehash_item_frame")]

    def __str__(self) -> str:
        return f"{self.item_id}@{self.frame}"


class DuplicateMethod(models.TextChoices):
    HASH = "hash", "Perceptual hash"
    EMBEDDING = "embedding", "Embedding distance"


class DuplicateScan(UUIDModel, Job):
    """One grouping run: method, key (embedding scans), threshold, and what it found.

    ``threshold`` is a Hamming distance in bits (0..64) for hash scans and a cosine distance for
    embedding scans; two items are near-duplicates when some pair of their hashes or vectors is within
    it, and a group is a connected component of that relation.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10, choices=DuplicateMethod.choices)
    key = models.ForeignKey("metadata.MetadataKey", null=True, blank=True, on_delete=models.CASCADE,
                            related_name="+")
    threshold = models.FloatField()
    hashes = models.BigIntegerField(default=0, help_text="hashes or vectors compared")
    pairs = models.BigIntegerField(default=0, help_text="pairs of items within the threshold")
    group_count = models.IntegerField(default=0)
    item_count = models.IntegerField(default=0, help_text="items in some group")
    seconds = models.FloatField(null=True, blank=True, help_text="time the grouping took")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(method="hash", key__isnull=True) | Q(method="embedding", key__isnull=False),
                name="similarity_scan_key_iff_embedding",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "method", "-created_at"], name="similarity_scan_latest")]

    def __str__(self) -> str:
        return f"{self.method} scan {self.pk} ({self.status})"


class DuplicateGroup(models.Model):
    """One group of near-duplicate items found by a scan; ``distance`` is its largest member distance."""

    id = models.BigAutoField(primary_key=True)
    scan = models.ForeignKey(DuplicateScan, on_delete=models.CASCADE, related_name="groups")
    size = models.IntegerField()
    distance = models.FloatField()

    class Meta:
        # The Duplicates page walks a scan's groups tightest first and stops at a page of visible ones.
        indexes = [models.Index(fields=["scan", "distance", "id"], name="similarity_group_scan_order")]

    def __str__(self) -> str:
        return f"group {self.pk} ({self.size} items)"


class DuplicateMember(models.Model):
    """An item of a group; ``distance`` is to its nearest other member (bits, or cosine distance)."""

    id = models.BigAutoField(primary_key=True)
    group = models.ForeignKey(DuplicateGroup, on_delete=models.CASCADE, related_name="members", db_index=False)
    item = models.ForeignKey("storage.Item", on_delete=models.CASCADE, related_name="+", db_index=False)
    distance = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "item"], name="similarity_member_group_item")]
        # The Explorer's "duplicate" field asks "is this item in a group?" per row.
        indexes = [models.Index(fields=["item"], name="similarity_member_item")]

    def __str__(self) -> str:
        return f"{self.item_id} in {self.group_id}"
