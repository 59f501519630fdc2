"""``manage.py import_json <file> --folder <uuid-or-path>``: register a JSON file and watch its job.

Exit status: 0 when the job is DONE (entry errors are printed but do not fail the command), 1 when
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
from apps.core.models import User
from apps.imports.services.imports import import_job_create
from apps.storage import cli as storage_cli
from apps.storage.models import Folder, ImportJob, StorageIntegration
from apps.storage.selectors_items import import_job_get_for
from apps.storage.services.integrations import integration_list

def progress_line(job: ImportJob, now=None) -> str:
    """``[#####-----]  50% 5/10 | done 4, skipped 0, failed 1, pending 5 | 1,234 entries/s``."""
    return job_cli.progress_line(
        job, processed=job.total - job.pending if job.total is not None else 0, unit="entries", now=now,
        counts=f"done {job.done:,}, skipped {job.skipped:,}, failed {job.failed:,}, pending {job.pending:,}",
    )


class Command(BaseCommand):
    help = (
        "Register the files listed in a JSON import file (Encord format) into a folder, then show the "
        "job's progress until it ends. Exit status: 0 done, 1 the job failed or was cancelled, 2 bad arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the JSON registration file")
        parser.add_argument("--folder", required=True, help="folder uuid, or its path such as site-1/cam-2")
        parser.add_argument("--user", help="email of the importing user (default: the first superuser)")
        parser.add_argument("--organisation",
                            help="organisation name for a folder path (default: the user's only one)")
        parser.add_argument("--integration", help="storage integration uuid or name (see list_integrations)")
        parser.add_argument("--skip-duplicate-urls", action="store_true", help="skip entries already in the folder")
        parser.add_argument("--upsert-metadata", action="store_true",
                            help="with --skip-duplicate-urls: replace the duplicates' custom metadata")
        parser.add_argument("--all-or-nothing", action="store_true", help="import nothing if any entry is invalid")
        parser.add_argument("--no-wait", action="store_true", help="queue the job and exit")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise job_cli.bad(f"No such file: {path}")
        user = job_cli.acting_user(options["user"])
        folder = storage_cli.folder_argument(user, options["folder"], options["organisation"])
        integration = _integration(folder, options["integration"])
        try:
            with path.open("rb") as handle:
                job = import_job_create(
                    user=user, folder=folder, fileobj=File(handle, name=path.name), file_name=path.name,
                    integration=integration, all_or_nothing=options["all_or_nothing"],
                    skip_duplicate_urls=options["skip_duplicate_urls"], upsert_metadata=options["upsert_metadata"],
                )
        except (PermissionDenied, Http404) as exc:
            raise job_cli.bad(f"{user.email} may not import into {storage_cli.folder_path(folder)}: {exc}") from exc
        except ServiceValidationError as exc:
            raise job_cli.refused(exc) from exc
        self.stdout.write(f"Queued import {job.pk} of {path.name} into {storage_cli.folder_path(folder)}.")
        if options["no_wait"]:
            self.stdout.write(f"Not waiting; follow it at /api/v1/imports/{job.pk}")
            return
        job = self._watch(user, job)
        self._summary(job)
        job_cli.raise_unless_done(job, what="import")

    def _watch(self, user: User, job: ImportJob) -> ImportJob:
        return job_cli.watch(
            self.stdout, fetch=lambda: import_job_get_for(user=user, pk=job.pk), line=progress_line,
            state=lambda j: (j.status, j.total, j.done, j.skipped, j.failed), api_url=f"/api/v1/imports/{job.pk}",
        )

    def _summary(self, job: ImportJob) -> None:
        self.stdout.write(
            f"Import {job.pk} {job.status}: {job.total or 0:,} entries, {job.done:,} done, {job.skipped:,} skipped, "
            f"{job.failed:,} failed" + (f", {job.probe_failed:,} unreadable." if job.probe_failed else ".")
        )
        job_cli.errors_write(self.stdout, job, line=lambda error: f"{error.pointer}: {error.reason}",
                             more_url=f"/api/v1/imports/{job.pk}/errors.csv")


def _integration(folder: Folder, value: str | None) -> StorageIntegration | None:
    if not value:
        return None
    integrations = list(integration_list(organisation=folder.organisation))
    for integration in integrations:
        if str(integration.pk) == value.strip().lower() or integration.name == value:
            return integration
    names = ", ".join(f"{i.pk} {i.name}" for i in integrations)
    raise job_cli.bad(f"No storage integration {value!r} in {folder.organisation.name} (there are: {names}).")
