"""``manage.py import_metadata <file> --folder <uuid-or-path>``: apply a CSV/JSON metadata file and watch its job.

Exit status: 0 when the job is DONE (refused rows are printed but do not fail the command), 1 when
the job ends in ERROR or is cancelled, 2 for bad arguments.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.management.base import BaseCommand
from django.http import Http404

from apps.core import job_cli
from apps.core.errors import ServiceValidationError
from apps.metadata.models_jobs import MetadataJob, MetadataJobMatch, MetadataJobMode
from apps.metadata.services.jobs import metadata_job_create
from apps.storage import cli as storage_cli

def progress_line(job: MetadataJob, now=None) -> str:
    """``[#####-----]  50% 5,000/10,000 | done 4,990, failed 10, pending 5,000 | 12,345 rows/s``."""
    return job_cli.progress_line(
        job, processed=job.done + job.failed, unit="rows", now=now,
        counts=f"done {job.done:,}, failed {job.failed:,}, pending {job.pending:,}",
    )


class Command(BaseCommand):
    help = (
        "Apply a CSV or JSON file of item metadata to a folder's subtree (or, without --folder, to every "
        "folder of the organisation you can edit), then show the job's progress until it ends. "
        "Exit status: 0 done, 1 the job failed or was cancelled, 2 bad arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV or JSON metadata file")
        parser.add_argument("--folder",
                            help="folder uuid, or its path such as site-1/cam-2 (default: the whole organisation)")
        parser.add_argument("--mode", choices=MetadataJobMode.values, default="",
                            help="merge (JSON merge-patch) or replace; default: the file's own, else merge")
        parser.add_argument("--match", choices=MetadataJobMatch.values, default="",
                            help="how rows name items; default: the file's own (CSV header), else uuid")
        parser.add_argument("--user", help="email of the submitting user (default: the first superuser)")
        parser.add_argument("--organisation", help="organisation name (default: the user's only one)")
        parser.add_argument("--no-wait", action="store_true", help="queue the job and exit")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise job_cli.bad(f"No such file: {path}")
        user = job_cli.acting_user(options["user"])
        folder, organisation = None, None
        if options["folder"]:
            folder = storage_cli.folder_argument(user, options["folder"], options["organisation"])
        else:
            organisation = job_cli.acting_organisation(user, options["organisation"])
        scope = f"{storage_cli.folder_path(folder)} and below" if folder else f"the folders of {organisation.name}"
        try:
            with path.open("rb") as handle:
                job = metadata_job_create(
                    user=user, fileobj=File(handle, name=path.name), file_name=path.name, folder=folder,
                    organisation=organisation, mode=options["mode"], match=options["match"],
                )
        except (PermissionDenied, Http404) as exc:
            raise job_cli.bad(f"{user.email} may not change metadata in {scope}: {exc}") from exc
        except ServiceValidationError as exc:
            raise job_cli.refused(exc) from exc
        self.stdout.write(f"Queued metadata job {job.pk} of {path.name} for {scope}.")
        if options["no_wait"]:
            self.stdout.write(f"Not waiting; follow it at /api/v1/metadata/jobs/{job.pk}")
            return
        job = self._watch(job)
        self._summary(job)
        job_cli.raise_unless_done(job, what="metadata job")

    def _watch(self, job: MetadataJob) -> MetadataJob:
        return job_cli.watch(
            self.stdout, fetch=lambda: MetadataJob.objects.get(pk=job.pk), line=progress_line,
            state=lambda j: (j.status, j.total, j.done, j.failed), api_url=f"/api/v1/metadata/jobs/{job.pk}",
        )

    def _summary(self, job: MetadataJob) -> None:
        self.stdout.write(
            f"Metadata job {job.pk} {job.status}: {job.total or 0:,} rows ({job.mode or '-'}, by "
            f"{job.match or 'per-row key'}), {job.done:,} done, {job.failed:,} failed."
        )
        job_cli.errors_write(self.stdout, job, line=lambda error: f"row {error.row} ({error.location}): {error.reason}",
                             more_url=f"/api/v1/metadata/jobs/{job.pk}?errors_after={job_cli.ERRORS_SHOWN}")
