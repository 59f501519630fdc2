"""Collections, datasets, frozen dataset versions, projects, and the jobs that fill and export them.

Membership tables hold millions of rows and are written inside the database (``INSERT ... SELECT``
from the Explorer's compiled filter), never by shipping id lists through Python. They reference items
by foreign key so that purging an item from the trash removes it everywhere live; soft deletion
(``Item.deleted_at``) is read through, so a trashed item disappears from live collections and datasets
and a restored one is back where it was. Frozen versions copy what they need and hold no foreign key
to items: later edits, moves and purges do not change them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Now

from apps.core.jobs import Job
from apps.core.models import Organisation, TimestampedModel, UUIDModel

TITLE_MAX = 255


class Collection(UUIDModel, TimestampedModel):
    """A named set of items, children and video frames of one top-level folder (as in Encord).

    The title acts as a tag: the Explorer filters "in collection <title or uuid>" and shows an item's
    collections. Titles are unique (case-insensitively) within a top-level folder.

    A **dynamic** collection has a ``definition`` (a selection as the Explorer's doors take it:
    ``{"scope": ..., "filter": ..., "q": ...}``); ``collection_refresh`` recomputes its entries and
    records what was added and removed (``CollectionChange``) since the previous refresh. A static
    collection (``definition`` None) changes only through add/remove.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="collections")
    folder = models.ForeignKey("storage.Folder", on_delete=models.CASCADE, related_name="collections",
                               help_text="The top-level folder the collection belongs to.")
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    definition = models.JSONField(null=True, blank=True,
                                  help_text='Dynamic collections: {"scope", "filter", "q"}; None when static.')
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["title", "uuid"]
        constraints = [
            models.UniqueConstraint(Lower("title"), "folder", name="unique_collection_title_per_folder"),
            models.CheckConstraint(condition=~Q(title=""), name="collection_title_not_blank"),
        ]

    def __str__(self) -> str:
        return self.title


class CollectionEntry(models.Model):
    """One member of a collection: an item (top-level or a child), or one frame of a video item."""

    id = models.BigAutoField(primary_key=True)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="entries", db_index=False)
    item = models.ForeignKey("storage.Item", on_delete=models.CASCADE, related_name="+", db_index=False)
    frame = models.IntegerField(null=True, blank=True, help_text="A video frame; None for the whole item.")
    added_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "item", "frame"], nulls_distinct=False,
                                    name="unique_collection_entry"),
            models.CheckConstraint(condition=Q(frame__isnull=True) | Q(frame__gte=0), name="collection_frame_gte_0"),
        ]
        indexes = [models.Index(fields=["item"], name="collection_entry_item")]


class CollectionChange(models.Model):
    """What the last refresh of a dynamic collection added or removed (older refreshes are dropped)."""

    class Kind(models.TextChoices):
        ADDED = "added", "Added"
        REMOVED = "removed", "Removed"

    id = models.BigAutoField(primary_key=True)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="changes", db_index=False)
    item_id = models.UUIDField()
    frame = models.IntegerField(null=True, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)

    class Meta:
        indexes = [models.Index(fields=["collection", "kind"], name="collection_change_kind")]


class Dataset(UUIDModel, TimestampedModel):
    """Data units linked (never copied) for annotation: top-level items, or, with ``split_groups``, the
    images of image groups and sequences one by one (the seed's "Split image groups/sequences").

    Its uuid is the Encord ``dataset_hash``. Units follow their items: a trashed item is not listed,
    a restored one is back; ``DatasetVersion`` freezes what it held.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="datasets")
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(blank=True, default="")
    split_groups = models.BooleanField(default=False, help_text="Image groups and sequences as single images.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["title", "uuid"]
        constraints = [models.CheckConstraint(condition=~Q(title=""), name="dataset_title_not_blank")]

    def __str__(self) -> str:
        return self.title


class DatasetUnit(models.Model):
    """One data unit of a dataset: an item (a child image when the dataset splits groups/sequences)."""

    id = models.BigAutoField(primary_key=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="units", db_index=False)
    item = models.ForeignKey("storage.Item", on_delete=models.CASCADE, related_name="+", db_index=False)
    added_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "item"], name="unique_dataset_unit")]
        indexes = [models.Index(fields=["item"], name="dataset_unit_item")]


class DatasetVersion(UUIDModel):
    """An immutable snapshot of a dataset: which units it held and their metadata at ``created_at``."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    note = models.TextField(blank=True, default="")
    unit_count = models.IntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [models.UniqueConstraint(fields=["dataset", "number"], name="unique_dataset_version_number")]

    def __str__(self) -> str:
        return f"{self.dataset_id} v{self.number}"


class VersionUnit(models.Model):
    """A data unit as it was when its version was frozen. No foreign key to the item: the version keeps
    it after the item is edited, moved or purged (pages say when the file is gone)."""

    id = models.BigAutoField(primary_key=True)
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="units", db_index=False)
    item_id = models.UUIDField()
    parent_id = models.UUIDField(null=True, blank=True)
    folder_id = models.UUIDField()
    item_type = models.CharField(max_length=16)
    name = models.CharField(max_length=1024)
    url = models.TextField(blank=True, default="")
    client_metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "item_id"], name="unique_version_unit")]


class Project(UUIDModel, TimestampedModel):
    """An annotation project fed by datasets; its data units are its datasets' units."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="projects")
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(blank=True, default="")
    datasets = models.ManyToManyField(Dataset, through="ProjectDataset", related_name="projects")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["title", "uuid"]
        constraints = [models.CheckConstraint(condition=~Q(title=""), name="project_title_not_blank")]

    def __str__(self) -> str:
        return self.title


class ProjectDataset(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "dataset"], name="unique_project_dataset")]


class CurationJobAction(models.TextChoices):
    COLLECTION_FILL = "collection_fill", "Add a selection to a collection"
    COLLECTION_REFRESH = "collection_refresh", "Refresh a dynamic collection"
    DATASET_FILL = "dataset_fill", "Link units into a dataset"
    VERSION_FREEZE = "version_freeze", "Freeze a dataset version"
    EXPORT = "export", "Export"


class ExportFormat(models.TextChoices):
    JSON = "json", "JSON (registration format)"
    CSV = "csv", "CSV of the metadata"
    PARQUET = "parquet", "Parquet"


class CurationJob(UUIDModel, Job):
    """A large curation action run by a worker (``apps.core.jobs.Job``: lease, heartbeat, resume):
    filling a collection or a dataset from a selection, refreshing a dynamic collection, freezing a
    version, exporting. ``total``/``next_index`` give the progress bar; ``params`` holds what the
    action needs (a selection's JSON, a format); an export's file is ``result`` once DONE."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=24, choices=CurationJobAction.choices)
    collection = models.ForeignKey(Collection, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(DatasetVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    params = models.JSONField(default=dict, blank=True)
    export_format = models.CharField(max_length=8, choices=ExportFormat.choices, blank=True, default="")
    result = models.FileField(upload_to="exports/%Y/%m/", blank=True, default="")
    result_size = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(action="export") | ~Q(export_format=""), name="curation_export_format"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.status}"
