"""Import jobs: one JSON registration file being registered into a folder by workers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from apps.core.jobs import Job, JobStatus
from apps.core.models import Organisation, UUIDModel
from apps.storage.models.folders import Folder
from apps.storage.models.integrations import StorageIntegration


ImportJobStatus = JobStatus  # the lifecycle every Loupe job shares (apps.core.jobs)
PROBE_STAGE = "probe"


class ImportJobQuerySet(models.QuerySet):
    def with_counts(self):
        """Jobs with their probe failures counted in the same query (``probe_failed`` without a query each)."""
        probe_errors = (
            ImportJobError.objects.filter(job=models.OuterRef("pk"), stage=PROBE_STAGE)
            .order_by().values("job").annotate(n=models.Count("*")).values("n")
        )
        return self.annotate(probe_failed_count=Coalesce(models.Subquery(probe_errors), 0))


class ImportJob(UUIDModel, Job):
    """The state of one import, enough to resume it after a worker dies (``apps.core.jobs.Job``).

    Every entry of the file is counted once, in one of: ``done`` (registered, or metadata upserted,
    and its files readable or not read yet), ``skipped`` (duplicates), ``failed`` (refused: no item
    was made; one ImportJobError with stage ``entry`` each), ``probe_failed`` (registered, but a file
    of it could not be read: the item exists, one ImportJobError with stage ``probe``) and
    ``pending`` (not reached yet); they add up to ``total``. ``registered`` is what the import
    engine commits (done + probe_failed); the probe tasks only add their error rows, so a probe
    failure never waits for the job's row lock.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="import_jobs")
    integration = models.ForeignKey(StorageIntegration, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    source = models.FileField(upload_to="imports/%Y/%m/")
    file_name = models.CharField(max_length=255, blank=True)

    skip_duplicate_urls = models.BooleanField(default=False)
    upsert_metadata = models.BooleanField(default=False)
    all_or_nothing = models.BooleanField(default=False)
    total_urls = models.IntegerField(null=True, blank=True)
    registered = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    # Embedding keys whose ANN index this job set aside for its bulk load (rebuilt when it ends).
    suspended_index_keys = models.JSONField(default=list, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.file_name or self.pk} into {self.folder}"

    def refresh_from_db(self, *args, **kwargs):
        self.__dict__.pop("probe_failed_count", None)  # a counted annotation would be stale now
        super().refresh_from_db(*args, **kwargs)

    @property
    def probe_failed(self) -> int:
        counted = getattr(self, "probe_failed_count", None)  # from ImportJobQuerySet.with_counts()
        if counted is None:
            counted = self.errors.filter(stage=PROBE_STAGE).count()
        return counted

    @property
    def done(self) -> int:
        return max(self.registered - self.probe_failed, 0)

    @property
    def pending(self) -> int:
        if self.total is None:
            return 0
        return max(self.total - self.registered - self.skipped - self.failed, 0)


class ImportJobError(models.Model):
    """One refused entry (or one registered file that could not be read), with where and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="errors")
    entry_index = models.IntegerField()
    pointer = models.CharField(max_length=512)
    reason = models.TextField()
    urls = models.JSONField(default=list)
    stage = models.CharField(max_length=8, default="entry")  # entry | probe (PROBE_STAGE)

    class Meta:
        ordering = ["entry_index", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "entry_index", "stage"], name="one_error_per_entry_stage")
        ]

    def __str__(self) -> str:
        return f"{self.pointer}: {self.reason}"
