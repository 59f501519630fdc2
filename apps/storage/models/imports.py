"""Import jobs: one JSON registration file being registered into a folder by workers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.jobs import JobStatus
from apps.core.models import Organisation, UUIDModel
from apps.storage.models.folders import Folder
from apps.storage.models.integrations import StorageIntegration


ImportJobStatus = JobStatus  # the lifecycle every Loupe job shares (apps.core.jobs)


class ImportJob(UUIDModel):
    """The state of one import, enough to resume it after a worker dies.

    ``next_index`` is the file position of the first entry not yet committed; it advances in the
    same transaction as the batch it covers, so a restarted task continues exactly where the last
    committed batch ended. Counters: ``done`` (registered, or metadata upserted), ``skipped``
    (duplicates), ``failed`` (entry errors, listed in ImportJobError); pending is the rest.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="import_jobs")
    integration = models.ForeignKey(StorageIntegration, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    source = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=255, blank=True)

    status = models.CharField(max_length=10, choices=ImportJobStatus.choices, default=ImportJobStatus.PENDING)
    skip_duplicate_urls = models.BooleanField(default=False)
    upsert_metadata = models.BooleanField(default=False)
    all_or_nothing = models.BooleanField(default=False)
    total = models.IntegerField(null=True, blank=True)
    total_urls = models.IntegerField(null=True, blank=True)
    next_index = models.IntegerField(default=0)
    done = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    # Embedding keys whose ANN index this job set aside for its bulk load (rebuilt when it ends).
    suspended_index_keys = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.file_name or self.pk} into {self.folder}"

    @property
    def pending(self) -> int:
        if self.total is None:
            return 0
        return max(self.total - self.done - self.skipped - self.failed, 0)

    @property
    def is_finished(self) -> bool:
        return self.status in ImportJobStatus.finished()


class ImportJobError(models.Model):
    """One refused entry (or one registered file that could not be read), with where and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="errors")
    entry_index = models.IntegerField()
    pointer = models.CharField(max_length=512)
    reason = models.TextField()
    urls = models.JSONField(default=list)
    stage = models.CharField(max_length=8, default="entry")  # entry | probe

    class Meta:
        ordering = ["entry_index", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "entry_index", "stage"], name="one_error_per_entry_stage")
        ]

    def __str__(self) -> str:
        return f"{self.pointer}: {self.reason}"
