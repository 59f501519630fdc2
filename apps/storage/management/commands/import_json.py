"""``manage.py import_json <file> --folder <uuid-or-path>``: register a JSON file and watch its job.

Exit status: 0 when the job is DONE (entry errors are printed but do not fail the command), 1 when
the job ends in ERROR or is cancelled, 2 for bad arguments.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404
from django.utils import timezone

from apps.core.errors import ServiceValidationError
from apps.core.models import User
from apps.core.selectors import organisation_list
from apps.storage.models import Folder, ImportJob, ImportJobStatus, StorageIntegration
from apps.storage.permissions import folder_get_for
from apps.storage.selectors import folder_breadcrumbs, folder_by_path
from apps.storage.selectors_items import import_job_get_for
from apps.storage.services.imports import import_job_create
from apps.storage.services.integrations import integration_list

POLL_SECONDS = 0.5  # a progress redraw twice a second; each poll is one primary-key read
BAR_WIDTH = 30
ERRORS_SHOWN = 20
JOB_FAILED = 1
BAD_ARGUMENTS = 2


def _bad(message: str) -> CommandError:
    return CommandError(message, returncode=BAD_ARGUMENTS)


def progress_line(job: ImportJob, now) -> str:
    """``[#####-----]  50% 5/10 | done 4, skipped 0, failed 1, pending 5 | 1,234 entries/s``."""
    if job.total is None:
        state = "waiting for a worker" if job.status == ImportJobStatus.PENDING else "reading the file"
        return f"[{'-' * BAR_WIDTH}]    - {state}"
    processed = job.done + job.skipped + job.failed
    fraction = processed / job.total if job.total else 1.0
    filled = min(int(BAR_WIDTH * fraction), BAR_WIDTH)
    elapsed = ((job.finished_at or now) - job.started_at).total_seconds() if job.started_at else 0.0
    rate = processed / elapsed if elapsed > 0 else 0.0
    return (
        f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction:4.0%} {processed:,}/{job.total:,} | "
        f"done {job.done:,}, skipped {job.skipped:,}, failed {job.failed:,}, pending {job.pending:,} | "
        f"{rate:,.0f} entries/s"
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
            raise _bad(f"No such file: {path}")
        user = _user(options["user"])
        folder = _folder(user, options["folder"], options["organisation"])
        integration = _integration(folder, options["integration"])
        try:
            with path.open("rb") as handle:
                job = import_job_create(
                    user=user, folder=folder, fileobj=File(handle, name=path.name), file_name=path.name,
                    integration=integration, all_or_nothing=options["all_or_nothing"],
                    skip_duplicate_urls=options["skip_duplicate_urls"], upsert_metadata=options["upsert_metadata"],
                )
        except (PermissionDenied, Http404) as exc:
            raise _bad(f"{user.email} may not import into {_folder_path(folder)}: {exc}") from exc
        except ServiceValidationError as exc:
            raise _bad("; ".join(f"{key}: {' '.join(value)}" for key, value in exc.message_dict.items())) from exc
        self.stdout.write(f"Queued import {job.pk} of {path.name} into {_folder_path(folder)}.")
        if options["no_wait"]:
            self.stdout.write(f"Not waiting; follow it at /api/v1/imports/{job.pk}")
            return
        job = self._watch(user, job)
        self._summary(job)
        if job.status == ImportJobStatus.ERROR:
            raise CommandError(f"The import failed: {job.error}", returncode=JOB_FAILED)
        if job.status == ImportJobStatus.CANCELLED:
            raise CommandError("The import was cancelled.", returncode=JOB_FAILED)

    def _watch(self, user: User, job: ImportJob) -> ImportJob:
        """Poll until the job ends: one redrawn line on a terminal, a line per change otherwise."""
        live = self.stdout.isatty()
        shown = None
        try:
            while True:
                job = import_job_get_for(user=user, pk=job.pk)
                state = (job.status, job.total, job.done, job.skipped, job.failed)
                if live:
                    self.stdout.write(f"\r{progress_line(job, timezone.now())}\x1b[K", ending="")
                    self.stdout.flush()
                elif state != shown:
                    self.stdout.write(progress_line(job, timezone.now()))
                shown = state
                if job.is_finished:
                    break
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            raise CommandError(
                f"\nStopped watching; the import goes on: /api/v1/imports/{job.pk}", returncode=JOB_FAILED
            ) from None
        if live:
            self.stdout.write("")
        return job

    def _summary(self, job: ImportJob) -> None:
        self.stdout.write(
            f"Import {job.pk} {job.status}: {job.total or 0:,} entries, {job.done:,} done, {job.skipped:,} skipped, "
            f"{job.failed:,} failed."
        )
        if not job.failed:
            return
        shown = min(job.failed, ERRORS_SHOWN)
        self.stdout.write(f"Errors (first {shown} of {job.failed:,}):" if job.failed > shown else "Errors:")
        for error in job.errors.all()[:ERRORS_SHOWN]:
            self.stdout.write(f"  {error.pointer}: {error.reason}")
        if job.failed > shown:
            self.stdout.write(f"  ... all of them: /api/v1/imports/{job.pk}/errors.csv")


def _user(email: str | None) -> User:
    if email:
        user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
        if user is None:
            raise _bad(f"No active user with email {email!r}.")
        return user
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("date_joined", "pk").first()
    if user is None:
        raise _bad("There is no superuser to import as; name a user with --user <email>.")
    return user


def _folder(user: User, value: str, organisation_name: str | None) -> Folder:
    try:
        pk = uuid.UUID(value)
    except ValueError:
        pk = None
    if pk is not None:
        try:
            return folder_get_for(user=user, pk=pk)
        except Http404:
            raise _bad(f"No folder {value} that {user.email} can see.") from None
    organisations = organisation_list(user=user).order_by("name")
    if organisation_name:
        organisation = organisations.filter(name=organisation_name).first()
        if organisation is None:
            raise _bad(f"{user.email} is not in an organisation named {organisation_name!r}.")
    else:
        names = list(organisations.values_list("name", flat=True)[:20])
        if len(names) != 1:
            raise _bad(f"{user.email} belongs to no organisation." if not names else
                       f"{user.email} belongs to several organisations; name one with --organisation "
                       f"({', '.join(names)}).")
        organisation = organisations.get()
    folder = folder_by_path(user=user, organisation=organisation, path=value)
    if folder is None:
        raise _bad(f"No folder at path '{value}' in {organisation.name} that {user.email} can see.")
    return folder


def _integration(folder: Folder, value: str | None) -> StorageIntegration | None:
    if not value:
        return None
    integrations = list(integration_list(organisation=folder.organisation))
    for integration in integrations:
        if str(integration.pk) == value.strip().lower() or integration.name == value:
            return integration
    names = ", ".join(f"{i.pk} {i.name}" for i in integrations)
    raise _bad(f"No storage integration {value!r} in {folder.organisation.name} (there are: {names}).")


def _folder_path(folder: Folder) -> str:
    return "/".join(f.name for f in folder_breadcrumbs(folder=folder))
