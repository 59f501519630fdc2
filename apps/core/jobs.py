"""What Loupe's background jobs share: lifecycle, lease, heartbeat, cancel, resume and the sweep.

Import jobs (storage) and metadata jobs (metadata) differ in what they process, not in lifecycle;
each subclasses ``Job`` and registers itself with ``job_kind_register`` from its AppConfig.ready
(``core`` never imports the apps above it). What a caller may rely on:

* **One runner at a time.** ``job_run`` claims a job with a lease (``lease_owner`` + ``heartbeat_at``)
  in one UPDATE; a second delivery of the same job finds the lease held and returns at once. The
  runner keeps its lease alive from a heartbeat thread; a runner that finds its lease taken (it was
  presumed dead) stops at its next batch without writing it (``job_lease_check``).
* **Always finishes.** Any exception escaping the job's work ends it in ``ERROR`` with the reason;
  only a dead process (or ``BaseException``: a worker shutting down) leaves it ``RUNNING``, and then
  the sweep brings it back.
* **Resumed within a minute.** Every worker runs ``jobs_sweep`` every ``LOUPE_JOB_SWEEP_EVERY_S``
  (a thread started with the worker, ``config.celery``): jobs whose heartbeat is older than
  ``LOUPE_JOB_STALE_AFTER_S`` (or PENDING jobs whose message was lost) are sent again. A job resumed
  ``JOB_MAX_STALLED_RESUMES`` times without advancing is ended in ERROR (a poison entry that kills
  the worker process must not loop forever).

A new kind of job (curation's next): subclass ``Job`` (plus ``UUIDModel``) and add its counters;
its service runs ``job_run(model=..., pk=..., work=...)`` where ``work`` commits batches that lock
the job's row, call ``job_lease_check`` and advance ``next_index`` (setting ``heartbeat_at``) in the
batch's transaction; its AppConfig.ready calls ``job_kind_register`` with a function that sends the
job's task; cancel with ``job_cancel_request``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

logger = logging.getLogger(__name__)

JOB_MAX_STALLED_RESUMES = 3  # resumes at one position before the job is ended as stuck
HEARTBEATS_PER_STALE = 3  # heartbeats per staleness window: two may be missed before a job looks dead
ERROR_TEXT_MAX = 2000  # characters of an exception quoted in a job's or an entry's reason


class JobStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    DONE = "DONE", "Done"
    ERROR = "ERROR", "Error"
    CANCELLED = "CANCELLED", "Cancelled"

    @classmethod
    def finished(cls) -> frozenset[str]:
        return frozenset({cls.DONE, cls.ERROR, cls.CANCELLED})


class Job(models.Model):
    """The lifecycle of one background job over a file of entries, enough to resume it anywhere.

    ``next_index`` is the position of the first entry not yet committed; subclasses advance it in the
    same transaction as the work it covers. ``failed`` counts entries refused (each with a position
    and a reason in the subclass's error table). ``lease_owner`` is the run that holds the job now
    ('' when none) and ``heartbeat_at`` when that run last proved it is alive; ``stalled_resumes``
    counts resumes that found the job where the previous run had started it.
    """

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    total = models.IntegerField(null=True, blank=True)
    next_index = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, default="")
    lease_owner = models.CharField(max_length=32, blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    claimed_index = models.IntegerField(null=True, blank=True)  # next_index when the last run claimed it
    stalled_resumes = models.IntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in JobStatus.finished()


class JobLeaseLost(Exception):
    """This run's lease was taken by another runner (it was presumed dead): stop without writing."""


# --------------------------------------------------------------------------- settings and registry


def stale_after() -> timedelta:
    return timedelta(seconds=settings.LOUPE_JOB_STALE_AFTER_S)


@dataclass(frozen=True)
class JobKind:
    model: type[Job]
    enqueue: Callable[[str], None]  # sends the job's run task for a job id


_KINDS: dict[str, JobKind] = {}


def job_kind_register(*, model: type[Job], enqueue: Callable[[str], None]) -> None:
    """Make ``model``'s jobs part of the sweep (called from the owning app's ``AppConfig.ready``)."""
    _KINDS[model._meta.label] = JobKind(model=model, enqueue=enqueue)


def job_kinds() -> list[JobKind]:
    return list(_KINDS.values())


def db_text(value, limit: int | None = None) -> str:
    """``value`` as text PostgreSQL accepts: NUL and lone surrogates escaped, optionally cut to ``limit``.

    Error rows quote the entries that broke a job; the quote must not break the error row too.
    """
    text = str(value).replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")
    return text if limit is None else text[:limit]


def error_reason(exc: BaseException) -> str:
    """One line saying why: PostgreSQL's primary message when the database refused, else the exception."""
    cause = exc
    while cause is not None:
        diag = getattr(cause, "diag", None)
        if diag is not None and getattr(diag, "message_primary", None):
            return db_text(f"the database refused it: {diag.message_primary}", ERROR_TEXT_MAX)
        cause = cause.__cause__
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return db_text(f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__, ERROR_TEXT_MAX)


# --------------------------------------------------------------------------- lease


def job_claim(*, model: type[Job], pk, owner: str):
    """Take the job for run ``owner``; None when it is finished, gone or held by a live run.

    One UPDATE: two deliveries racing for the job serialise on its row, and the second re-reads the
    first one's fresh lease and claims nothing.
    """
    now = timezone.now()
    free = Q(lease_owner="") | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - stale_after())
    claimed = model.objects.filter(Q(pk=pk), free, status__in=(JobStatus.PENDING, JobStatus.RUNNING)).update(
        status=JobStatus.RUNNING, lease_owner=owner, heartbeat_at=now, updated_at=now,
        started_at=Coalesce("started_at", now), claimed_index=F("next_index"),
        stalled_resumes=models.Case(
            models.When(claimed_index=F("next_index"), then=F("stalled_resumes") + 1), default=0,
        ),
    )
    if not claimed:
        return None
    job = model.objects.get(pk=pk)
    job.lease_owner = owner
    return job


def job_lease_check(locked: Job, owner: str) -> None:
    """Inside a batch, on the job's locked row: raise unless this run still holds the job."""
    if locked.lease_owner != owner:
        raise JobLeaseLost(f"{locked._meta.label} {locked.pk} is held by another run")


def job_heartbeat(*, model: type[Job], pk, owner: str) -> bool:
    """Prove run ``owner`` is alive; False when it no longer holds the job."""
    now = timezone.now()
    return bool(model.objects.filter(pk=pk, lease_owner=owner).update(heartbeat_at=now))


def job_release(*, model: type[Job], pk, owner: str) -> None:
    """Give the job back unfinished (the worker is stopping): the next delivery or sweep resumes it."""
    model.objects.filter(pk=pk, lease_owner=owner).update(lease_owner="", heartbeat_at=None)


def job_finish(*, model: type[Job], pk, owner: str, status: str, error: str = ""):
    """End the job (unless another run took it over); returns it as stored, None when it is gone."""
    now = timezone.now()
    ended = model.objects.filter(pk=pk, lease_owner=owner).update(
        status=status, error=db_text(error, ERROR_TEXT_MAX), finished_at=now, updated_at=now,
        lease_owner="", heartbeat_at=None,
    )
    job = model.objects.filter(pk=pk).first()
    if job is None:
        logger.warning("%s %s was deleted while it ran", model._meta.label, pk)
    elif not ended:
        logger.info("%s %s was taken over by another run; it did not finish it", model._meta.label, pk)
    return job


class _Heartbeat:
    """A thread that renews a run's lease every staleness window / HEARTBEATS_PER_STALE seconds.

    Long steps with no batch commit (scanning a 2 GB file, rebuilding an ANN index) keep the lease.
    It waits at most a second for the job's row lock: a batch holding it commits its own heartbeat.
    """

    def __init__(self, *, model: type[Job], pk, owner: str):
        self.model, self.pk, self.owner = model, pk, owner
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{pk}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        interval = max(stale_after().total_seconds() / HEARTBEATS_PER_STALE, 0.2)
        try:
            while not self.stop.wait(interval):
                try:
                    with transaction.atomic():
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL lock_timeout = '1s'")
                        if not job_heartbeat(model=self.model, pk=self.pk, owner=self.owner):
                            return  # taken over or finished: the run notices at its next batch
                except DatabaseError as exc:
                    logger.warning("heartbeat of %s %s skipped: %s", self.model._meta.label, self.pk, exc)
        finally:
            connection.close()  # this thread's own connection


def job_run(*, model: type[Job], pk, work: Callable[[Job, str], tuple[str, str]]):
    """Claim the job, run ``work(job, owner) -> (status, error)`` under a heartbeat, then finish it.

    Returns the job as stored afterwards (unchanged when another run holds it or it is finished), or
    None when it is gone. An exception from ``work`` ends the job in ERROR with the reason; a
    ``JobLeaseLost`` leaves it to the run that took it over.
    """
    owner = uuid.uuid4().hex
    job = job_claim(model=model, pk=pk, owner=owner)
    if job is None:
        current = model.objects.filter(pk=pk).first()
        if current is None:
            logger.warning("%s %s is gone; nothing to do", model._meta.label, pk)
        return current
    if job.stalled_resumes >= JOB_MAX_STALLED_RESUMES:
        return job_finish(model=model, pk=pk, owner=owner, status=JobStatus.ERROR, error=(
            f"Stopped: the job was resumed {job.stalled_resumes} times at entry {job.next_index} and the "
            "worker running it stopped each time (see the worker's log)."))
    try:
        with _Heartbeat(model=model, pk=pk, owner=owner):
            status, error = work(job, owner)
    except JobLeaseLost as exc:
        logger.info("%s", exc)
        return model.objects.filter(pk=pk).first()
    except Exception as exc:  # noqa: BLE001 - whatever broke, the job must end and say why
        logger.exception("%s %s stopped on an unexpected error", model._meta.label, pk)
        status, error = JobStatus.ERROR, f"Stopped by an unexpected error: {error_reason(exc)}"
    except BaseException:
        job_release(model=model, pk=pk, owner=owner)
        raise
    return job_finish(model=model, pk=pk, owner=owner, status=status, error=error)


# --------------------------------------------------------------------------- cancel and sweep


def job_cancel_request(*, model, pk, related: tuple[str, ...] = ()):
    """Ask a job to stop after its current batch; a job not yet started is cancelled at once.

    The row is locked so a worker committing a batch sees either the request or none of it.
    """
    with transaction.atomic():
        job = model.objects.select_for_update(of=("self",)).select_related(*related).get(pk=pk)
        if job.is_finished:
            return job
        job.cancel_requested = True
        if job.status == JobStatus.PENDING:
            job.status = JobStatus.CANCELLED
            job.finished_at = timezone.now()
        job.save(update_fields=["cancel_requested", "status", "finished_at", "updated_at"])
    return job


def jobs_sweep() -> list[tuple[str, object]]:
    """Send again every job a dead worker left behind; returns (model label, pk) of each one sent.

    Stale: RUNNING with a heartbeat older than the staleness window (or released), or PENDING for
    longer than it (its message was lost). The rows are marked sent (fresh heartbeat, no lease) in
    the same statement, skipping rows a live batch has locked, so that several workers sweeping at
    once send each job once, and a job waiting in a busy queue is not sent again before a window.
    """
    sent = []
    now = timezone.now()
    cutoff = now - stale_after()
    for kind in job_kinds():
        model = kind.model
        stale = (
            Q(status=JobStatus.RUNNING) & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
            | Q(status=JobStatus.PENDING, created_at__lt=cutoff)
            & (Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
        )
        with transaction.atomic():
            pks = list(model.objects.select_for_update(skip_locked=True).filter(stale).values_list("pk", flat=True))
            if pks:
                model.objects.filter(pk__in=pks).update(lease_owner="", heartbeat_at=now)
        for pk in pks:
            logger.info("resuming %s %s: no heartbeat from its worker since %s", model._meta.label, pk, cutoff)
            kind.enqueue(str(pk))
            sent.append((model._meta.label, pk))
    return sent


class JobSweeper:
    """The worker's timer: ``jobs_sweep`` at start, then every ``LOUPE_JOB_SWEEP_EVERY_S`` seconds."""

    def __init__(self):
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="loupe-job-sweep", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def shutdown(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        try:
            while True:
                try:
                    jobs_sweep()
                except Exception:  # noqa: BLE001 - a failed sweep (database restarting) is retried next tick
                    logger.exception("job sweep failed; retrying in %ss", settings.LOUPE_JOB_SWEEP_EVERY_S)
                    connection.close()
                if self.stop.wait(settings.LOUPE_JOB_SWEEP_EVERY_S):
                    return
        finally:
            connection.close()
