"""Items: the registered files (and groups, sequences, series) of a folder."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import models
from django.db.models import JSONField, Q, Value

from apps.core.models import Organisation, UUIDModel
from apps.storage.models.folders import Folder
from apps.storage.models.integrations import StorageIntegration
from apps.storage.querysets import ItemQuerySet


class ItemType(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    TEXT = "text", "Text"
    PDF = "pdf", "PDF"
    NIFTI = "nifti", "NIfTI"
    IMAGE_GROUP = "image_group", "Image group"
    IMAGE_SEQUENCE = "image_sequence", "Image sequence"
    DICOM_SERIES = "dicom_series", "DICOM series"
    DICOM_FILE = "dicom_file", "DICOM file"

    @classmethod
    def containers(cls) -> frozenset[str]:
        return frozenset({cls.IMAGE_GROUP, cls.IMAGE_SEQUENCE, cls.DICOM_SERIES})


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Waiting for probing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Item(UUIDModel):
    """A registered file, or a container (image group, image sequence, DICOM series) of child items.

    Files are not copied: ``url`` says where the bytes are. Media facts come either from the import
    (``media_source = supplied``, trusted as given) or from a worker's probe (``probed``). Children of
    a container have ``parent`` and ``position``. ``urls_key`` (SHA-1 of the entry's URL list) finds
    duplicates for ``skip_duplicate_urls``; ``(import_job, import_index)`` is unique, which is what
    makes a resumed import job unable to register an entry twice.

    Bulk imports write this table at tens of thousands of rows a second, so it carries only the
    indexes and foreign keys that queries or integrity need: folder and parent are enforced by the
    database; organisation, integration, job and creator are set by the import service from rows it
    has just read, and Django still applies their on_delete rules, so they skip the per-row checks.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="items", db_index=False)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children", db_index=False
    )
    position = models.IntegerField(null=True, blank=True)
    item_type = models.CharField(max_length=16, choices=ItemType.choices)
    name = models.CharField(max_length=1024)
    description = models.TextField(blank=True, default="", db_default="")
    url = models.TextField(blank=True, default="", db_default="")
    urls_key = models.CharField(max_length=40, blank=True, default="", db_default="")
    integration = models.ForeignKey(
        StorageIntegration, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False,
        db_constraint=False,
    )
    client_metadata = models.JSONField(default=dict, db_default=Value({}, JSONField()), blank=True)

    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    status_reason = models.TextField(blank=True, default="", db_default="")
    media_source = models.CharField(max_length=8, blank=True, default="", db_default="")  # supplied | probed
    file_size = models.BigIntegerField(null=True, blank=True)
    mime_type = models.CharField(max_length=128, blank=True, default="", db_default="")
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    frame_count = models.IntegerField(null=True, blank=True)
    codec = models.CharField(max_length=64, blank=True, default="", db_default="")
    audio_sample_rate = models.IntegerField(null=True, blank=True)
    audio_bit_depth = models.IntegerField(null=True, blank=True)
    audio_num_channels = models.IntegerField(null=True, blank=True)
    page_count = models.IntegerField(null=True, blank=True)
    dicom_study_uid = models.CharField(max_length=64, blank=True, default="", db_default="")
    dicom_series_uid = models.CharField(max_length=64, blank=True, default="", db_default="")
    dicom_instance_uid = models.CharField(max_length=64, blank=True, default="", db_default="")
    media_info = models.JSONField(default=dict, db_default=Value({}, JSONField()), blank=True, help_text="Other probe facts (DICOM tags, encoding).")
    preview = models.CharField(max_length=512, blank=True, default="", db_default="", help_text="Thumbnail path in media storage.")
    preview_frames = models.JSONField(default=list, db_default=Value([], JSONField()), blank=True, help_text="Video frame strip: [{frame, time, path}].")
    phash = models.BigIntegerField(
        null=True, blank=True,
        help_text="64-bit perceptual hash (pHash) of the image or video poster, as a signed bigint.",
    )
    rendered = models.CharField(max_length=512, blank=True, default="", db_default="", help_text="Rendered MP4 of a sequence.")

    import_job = models.ForeignKey(
        "storage.ImportJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="items", db_index=False,
        db_constraint=False,
    )
    import_index = models.IntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(db_default=models.functions.Now())
    updated_at = models.DateTimeField(db_default=models.functions.Now())
    deleted_at = models.DateTimeField(null=True, blank=True)
    trash_batch = models.UUIDField(null=True, blank=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["folder", "name"]
        constraints = [
            # Also the index behind import_job lookups (children have a NULL index, which never conflicts).
            models.UniqueConstraint(fields=["import_job", "import_index"], name="unique_import_entry"),
            models.UniqueConstraint(
                fields=["parent", "position"], condition=Q(parent__isnull=False), name="unique_child_position"
            ),
        ]
        indexes = [
            models.Index(fields=["folder", "name"], name="item_folder_name", condition=Q(parent__isnull=True)),
            models.Index(fields=["folder", "urls_key"], name="item_folder_urls_key", condition=Q(parent__isnull=True)),
            models.Index(fields=["status"], name="item_pending", condition=Q(status="pending")),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("storage:item", args=[self.pk])

    @property
    def display_name(self) -> str:
        """The name pages show: the stored name, except that an untitled file's default name (its URL's
        path, e.g. ``/data/cam%203/frame_001.jpg``, kept as the Encord API returns it) shows as the file
        name, decoded (``frame_001.jpg``), so tiles and titles do not show a cut-off path."""
        name = self.name
        if "/" not in name or not self.url:
            return name
        if not urlsplit(self.url).path.endswith(name.lstrip("/")):
            return name  # a title someone chose that happens to hold a slash
        return unquote(name.rstrip("/").rsplit("/", 1)[-1]) or name

    @property
    def is_container(self) -> bool:
        return self.item_type in ItemType.containers()
