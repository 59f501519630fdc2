"""``manage.py import_metadata <file> --folder <uuid-or-path>``: apply a CSV/JSON metadata file and watch its job.

Exit status: 0 when the job is DONE (refused rows are printed but do not fail the command), 1 when
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
from apps.metadata.models_jobs import MetadataJob, MetadataJobMatch, MetadataJobMode, MetadataJobStatus
from apps.metadata.services.jobs import metadata_job_create
from apps.storage.models import Folder
from apps.storage.permissions import folder_get_for
from apps.storage.selectors import folder_breadcrumbs, folder_by_path

POLL_SECONDS = 0.5  # a progress redraw twice a second; each poll is one primary-key read
BAR_WIDTH = 30
ERRORS_SHOWN = 20
JOB_FAILED = 1
BAD_ARGUMENTS = 2


def _bad(message: str) -> CommandError:
    return CommandError(message, returncode=BAD_ARGUMENTS)


def progress_line(job: MetadataJob, now) -> str:
    """``[#####-----]  50% 5,000/10,000 | done 4,990, failed 10, pending 5,000 | 12,345 rows/s``."""
    if job.total is None:
        state = "waiting for a worker" if job.status == MetadataJobStatus.PENDING else "reading the file"
        return f"[{'-' * BAR_WIDTH}]    - {state}"
    processed = job.done + job.failed
    fraction = processed / job.total if job.total else 1.0
    filled = min(int(BAR_WIDTH * fraction), BAR_WIDTH)
    elapsed = ((job.finished_at or now) - job.started_at).total_seconds() if job.started_at else 0.0
    rate = processed / elapsed if elapsed > 0 else 0.0
    return (
        f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction:4.0%} {processed:,}/{job.total:,} | "
        f"done {job.done:,}, failed {job.failed:,}, pending {job.pending:,} | {rate:,.0f} rows/s"
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
            raise _bad(f"No such file: {path}")
        user = _user(options["user"])
        folder, organisation = None, None
        if options["folder"]:
            folder = _folder(user, options["folder"], options["organisation"])
        else:
            organisation = _organisation(user, options["organisation"])
        scope = f"{_folder_path(folder)} and below" if folder else f"the folders of {organisation.name}"
        try:
            with path.open("rb") as handle:
                job = metadata_job_create(
                    user=user, fileobj=File(handle, name=path.name), file_name=path.name, folder=folder,
                    organisation=organisation, mode=options["mode"], match=options["match"],
                )
        except (PermissionDenied, Http404) as exc:
            raise _bad(f"{user.email} may not change metadata in {scope}: {exc}") from exc
        except ServiceValidationError as exc:
            raise _bad("; ".join(f"{key}: {' '.join(value)}" for key, value in exc.message_dict.items())) from exc
        self.stdout.write(f"Queued metadata job {job.pk} of {path.name} for {scope}.")
        if options["no_wait"]:
            self.stdout.write(f"Not waiting; follow it at /api/v1/metadata/jobs/{job.pk}")
            return
        job = self._watch(job)
        self._summary(job)
        if job.status == MetadataJobStatus.ERROR:
            raise CommandError(f"The metadata job failed: {job.error}", returncode=JOB_FAILED)
        if job.status == MetadataJobStatus.CANCELLED:
            raise CommandError("The metadata job was cancelled.", returncode=JOB_FAILED)

    def _watch(self, job: MetadataJob) -> MetadataJob:
        """Poll until the job ends: one redrawn line on a terminal, a line per change otherwise."""
        live = self.stdout.isatty()
        shown = None
        try:
            while True:
                job = MetadataJob.objects.get(pk=job.pk)
                state = (job.status, job.total, job.done, job.failed)
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
                f"\nStopped watching; the job goes on: /api/v1/metadata/jobs/{job.pk}", returncode=JOB_FAILED
            ) from None
        if live:
            self.stdout.write("")
        return job

    def _summary(self, job: MetadataJob) -> None:
        self.stdout.write(
            f"Metadata job {job.pk} {job.status}: {job.total or 0:,} rows ({job.mode or '-'}, by "
            f"{job.match or 'per-row key'}), {job.done:,} done, {job.failed:,} failed."
        )
        if not job.failed:
            return
        shown = min(job.failed, ERRORS_SHOWN)
        self.stdout.write(f"Errors (first {shown} of {job.failed:,}):" if job.failed > shown else "Errors:")
        for error in job.errors.all()[:ERRORS_SHOWN]:
            self.stdout.write(f"  row {error.row} ({error.location}): {error.reason}")
        if job.failed > shown:
            self.stdout.write(f"  ... all of them: /api/v1/metadata/jobs/{job.pk}?errors_after={ERRORS_SHOWN}")


def _user(email: str | None) -> User:
    if email:
        user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
        if user is None:
            raise _bad(f"No active user with email {email!r}.")
        return user
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("date_joined", "pk").first()
    if user is None:
        raise _bad("There is no superuser to act as; name a user with --user <email>.")
    return user


def _organisation(user: User, name: str | None):
    organisations = organisation_list(user=user).order_by("name")
    if name:
        organisation = organisations.filter(name=name).first()
        if organisation is None:
            raise _bad(f"{user.email} is not in an organisation named {name!r}.")
        return organisation
    names = list(organisations.values_list("name", flat=True)[:20])
    if len(names) != 1:
        raise _bad(f"{user.email} belongs to no organisation." if not names else
                   f"{user.email} belongs to several organisations; name one with --organisation "
                   f"({', '.join(names)}).")
    return organisations.get()


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
    organisation = _organisation(user, organisation_name)
    folder = folder_by_path(user=user, organisation=organisation, path=value)
    if folder is None:
        raise _bad(f"No folder at path '{value}' in {organisation.name} that {user.email} can see.")
    return folder


def _folder_path(folder: Folder) -> str:
    return "/".join(f.name for f in folder_breadcrumbs(folder=folder))
