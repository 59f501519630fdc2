"""Metadata jobs: one CSV or JSON file of item metadata applied by workers (imported by ``apps.metadata.models``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.core.jobs import Job, JobStatus
from apps.core.models import Organisation, UUIDModel


MetadataJobStatus = JobStatus  # the lifecycle every Loupe job shares (apps.core.jobs)


class MetadataJobMode(models.TextChoices):
    MERGE = "merge", "Merge (JSON merge-patch)"
    REPLACE = "replace", "Replace"


class MetadataJobMatch(models.TextChoices):
    UUID = "uuid", "Item uuid"
    URL = "url", "File URL"
    TITLE = "title", "Title (item name)"


class MetadataJobFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSON = "json", "JSON"


class MetadataJobQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Jobs ``user`` may follow: a folder's jobs for whoever can read the folder; organisation-wide
        jobs for their submitter and the organisation's admins."""
        from apps.core.models import OrganisationRole
        from apps.core.selectors import organisation_memberships
        from apps.storage.permissions import visible_q

        memberships = organisation_memberships(user=user)
        admin_of = memberships.filter(role=OrganisationRole.ADMIN).values("organisation_id")
        member_of = memberships.values("organisation_id")
        in_live_folder = Q(folder__isnull=False, folder__deleted_at__isnull=True) & visible_q(
            user, organisation="folder__organisation_id", root="folder__root_id")
        organisation_wide = Q(folder__isnull=True) & (
            Q(organisation_id__in=admin_of) | Q(organisation_id__in=member_of, created_by_id=getattr(user, "pk", None)))
        return self.filter(in_live_folder | organisation_wide)


class MetadataJob(UUIDModel, Job):
    """The state of one metadata file being applied, enough to resume it after a worker dies
    (lifecycle, lease and sweep: ``apps.core.jobs.Job``).

    ``folder`` is the scope (its whole subtree); empty means every folder of ``organisation`` the
    submitter can edit. ``mode`` and ``match`` are empty until the job has read the file, when
    neither the submitter nor the file chose them (then merge and uuid).

    ``next_index`` is the position (0-based, among the file's rows) of the first row not yet
    committed; it advances in the same transaction as the metadata writes and history rows of the
    rows it covers, so a restarted task continues exactly where the last committed chunk ended and
    no row is applied twice. Counters: ``done`` (rows written), ``failed`` (rows refused, one
    MetadataJobError each); pending is the rest of ``total``.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(
        "storage.Folder", null=True, blank=True, on_delete=models.CASCADE, related_name="metadata_jobs"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    source = models.FileField(upload_to="metadata-jobs/%Y/%m/")
    file_name = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=4, choices=MetadataJobFormat.choices)
    mode = models.CharField(max_length=8, choices=MetadataJobMode.choices, blank=True)
    match = models.CharField(max_length=8, choices=MetadataJobMatch.choices, blank=True)

    done = models.IntegerField(default=0)
    # A patch job (the Explorer's bulk edit of a selection) has no file: one merge-patch for every item
    # of ``items``, the selection's uuids in order, read once when it was submitted; ``next_index`` is a
    # position in that list.
    patch = models.JSONField(null=True, blank=True)
    items = ArrayField(models.UUIDField(), null=True, blank=True)

    objects = MetadataJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "updated_at"], name="metadata_job_status")]

    def __str__(self) -> str:
        return f"metadata {self.file_name or self.pk} into {self.folder or 'the organisation'}"

    @property
    def pending(self) -> int:
        if self.total is None:
            return 0
        return max(self.total - self.done - self.failed, 0)


class MetadataJobError(models.Model):
    """One refused row: its number (1-based among the file's rows), where it is, its item key and why."""

    job = models.ForeignKey(MetadataJob, on_delete=models.CASCADE, related_name="errors")
    row = models.IntegerField()
    location = models.CharField(max_length=512)  # "line 12" for CSV, a JSON pointer for JSON
    key = models.CharField(max_length=1024, blank=True)  # the uuid, url or title the row names
    reason = models.TextField()

    class Meta:
        ordering = ["row"]
        # One error per row; also what lets a redelivered chunk insert its errors again harmlessly.
        constraints = [models.UniqueConstraint(fields=["job", "row"], name="one_metadata_job_error_per_row")]

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"
