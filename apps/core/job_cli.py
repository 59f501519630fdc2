"""What the job-submitting management commands share: who acts, the exit codes, and a progress display.

``import_json`` (storage) and ``import_metadata`` (metadata) submit a job and watch it; the same
argument rules, exit codes and progress line serve both. Folder arguments are storage's
(``apps.storage.cli``): core knows nothing of folders.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.management.base import CommandError
from django.utils import timezone

from apps.core.jobs import JobStatus
from apps.core.models import User
from apps.core.selectors import organisation_list

POLL_SECONDS = 0.5  # a progress redraw twice a second; each poll is one primary-key read
BAR_WIDTH = 30
ERRORS_SHOWN = 20
JOB_FAILED = 1
BAD_ARGUMENTS = 2


def bad(message: str) -> CommandError:
    return CommandError(message, returncode=BAD_ARGUMENTS)


def refused(exc) -> CommandError:
    """A service's field-keyed refusal (``ServiceValidationError``) as one line and a bad-arguments exit."""
    return bad("; ".join(f"{key}: {' '.join(value)}" for key, value in exc.message_dict.items()))


def errors_write(stdout, job, *, line: Callable, more_url: str) -> None:
    """The first ``ERRORS_SHOWN`` of the job's failed entries, one ``line(error)`` each, and where the rest are."""
    if not job.failed:
        return
    shown = min(job.failed, ERRORS_SHOWN)
    stdout.write(f"Errors (first {shown} of {job.failed:,}):" if job.failed > shown else "Errors:")
    for error in job.errors.all()[:ERRORS_SHOWN]:
        stdout.write(f"  {line(error)}")
    if job.failed > shown:
        stdout.write(f"  ... all of them: {more_url}")


def raise_unless_done(job, *, what: str) -> None:
    """Exit with ``JOB_FAILED`` when the watched job ended in ERROR or was cancelled."""
    if job.status == JobStatus.ERROR:
        raise CommandError(f"The {what} failed: {job.error}", returncode=JOB_FAILED)
    if job.status == JobStatus.CANCELLED:
        raise CommandError(f"The {what} was cancelled.", returncode=JOB_FAILED)


def acting_user(email: str | None) -> User:
    """The named active user, else the oldest superuser."""
    if email:
        user = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
        if user is None:
            raise bad(f"No active user with email {email!r}.")
        return user
    user = User.objects.filter(is_superuser=True, is_active=True).order_by("date_joined", "pk").first()
    if user is None:
        raise bad("There is no superuser to act as; name a user with --user <email>.")
    return user


def acting_organisation(user: User, name: str | None):
    """The named organisation of ``user``, or their only one."""
    organisations = organisation_list(user=user).order_by("name")
    if name:
        organisation = organisations.filter(name=name).first()
        if organisation is None:
            raise bad(f"{user.email} is not in an organisation named {name!r}.")
        return organisation
    names = list(organisations.values_list("name", flat=True)[:20])
    if len(names) != 1:
        raise bad(f"{user.email} belongs to no organisation." if not names else
                  f"{user.email} belongs to several organisations; name one with --organisation "
                  f"({', '.join(names)}).")
    return organisations.get()


def progress_line(job, *, processed: int, counts: str, unit: str, now=None) -> str:
    """``[#####-----]  50% 5/10 | <counts> | 1,234 <unit>/s`` for any job with total/started/finished."""
    if job.total is None:
        state = "waiting for a worker" if job.status == "PENDING" else "reading the file"
        return f"[{'-' * BAR_WIDTH}]    - {state}"
    fraction = processed / job.total if job.total else 1.0
    filled = min(int(BAR_WIDTH * fraction), BAR_WIDTH)
    now = now or timezone.now()
    elapsed = ((job.finished_at or now) - job.started_at).total_seconds() if job.started_at else 0.0
    rate = processed / elapsed if elapsed > 0 else 0.0
    return (f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {fraction:4.0%} {processed:,}/{job.total:,} | "
            f"{counts} | {rate:,.0f} {unit}/s")


def watch(stdout, *, fetch: Callable, line: Callable, state: Callable, api_url: str):
    """Poll ``fetch()`` until the job ends: one redrawn line on a terminal, a line per change otherwise."""
    live = stdout.isatty()
    shown = None
    try:
        while True:
            job = fetch()
            if live:
                stdout.write(f"\r{line(job)}\x1b[K", ending="")
                stdout.flush()
            elif state(job) != shown:
                stdout.write(line(job))
            shown = state(job)
            if job.is_finished:
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        raise CommandError(f"\nStopped watching; the job goes on: {api_url}", returncode=JOB_FAILED) from None
    if live:
        stdout.write("")
    return job
