"""Import jobs: accept a JSON registration file, then register its entries in crash-safe batches.

The three doors (UI drag-and-drop, REST API, ``manage.py import_json``) and the Encord layer call
``import_job_create``; a Celery task calls ``import_job_run``.

Why it is shaped like this:
* The file is streamed twice (``importformat``): a cheap scan for file-level limits, then the entry
  pass. Nothing is written when the file itself is refused.
* Each batch of ``BATCH_ENTRIES`` entries is one transaction that writes its items (COPY), its entry
  errors, and the job's counters and ``next_index`` together, under a row lock on the job. A worker
  killed anywhere resumes at ``next_index``: a batch is either wholly in or wholly out, and a second
  runner of the same job (a redelivered task) skips what the first already committed. Runs hold the
  job with a lease and are resumed by the workers' sweep (``apps.core.jobs``).
* A batch the database refuses as a whole is written again entry by entry, each in a savepoint: the
  entry at fault is recorded failed with the database's reason and the rest go in, so a resumed job
  never loops on a poison entry; anything else that breaks ends the job in ERROR with the reason.
* Files whose media metadata was supplied are registered without being read. Others are left
  ``pending`` and probed by separate tasks, enqueued when their batch commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import File
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from apps.core.errors import ServiceValidationError
from apps.core.foreign_keys import foreign_key_checks_skipped, rows_locked_for_key_share
from apps.core.jobs import (
    JobLeaseLost, db_text, error_reason, job_cancel_request, job_lease_check, job_run,
)
from apps.core.models import User
from apps.imports import importformat
from apps.imports.importformat import EntryError, ImportEntry, ImportFileError, Problem, entry_error
from apps.metadata.encord_rules import ENCORD_KEY
from apps.storage.models import (
    Folder, FolderRole, ImportJob, ImportJobError, ImportJobStatus, Item, ItemStatus, ItemType,
    StorageIntegration, StorageIntegrationKind,
)
from apps.storage.permissions import folder_require
from apps.storage.services.integrations import integration_builtin_get_or_create

logger = logging.getLogger(__name__)

BATCH_ENTRIES = 5000  # one transaction: ~0.25 s of COPY at the measured rates, small enough to lose on a crash
PROBE_TASK_ITEMS = 25  # items per probe task: fetching dominates, keep tasks short so cancellation is quick

KIND_TO_TYPE = {
    "video": ItemType.VIDEO, "audio": ItemType.AUDIO, "image": ItemType.IMAGE, "text": ItemType.TEXT,
    "pdf": ItemType.PDF, "nifti": ItemType.NIFTI, "image_group": ItemType.IMAGE_GROUP,
    "image_sequence": ItemType.IMAGE_SEQUENCE, "dicom_series": ItemType.DICOM_SERIES,
}
CHILD_TYPE = {
    ItemType.IMAGE_GROUP: ItemType.IMAGE, ItemType.IMAGE_SEQUENCE: ItemType.IMAGE,
    ItemType.DICOM_SERIES: ItemType.DICOM_FILE,
}
GROUP_KINDS = frozenset({"image_group", "dicom_series"})
CONTAINER_KINDS = frozenset({"image_group", "image_sequence", "dicom_series"})  # ItemType.containers()
MEDIA_BLOCK_NAME = {ItemType.VIDEO: "videoMetadata", ItemType.IMAGE: "imageMetadata", ItemType.AUDIO: "audioMetadata"}
MEDIA_COLUMNS = {
    "file_size": "file_size", "mime_type": "mime_type", "width": "width", "height": "height", "fps": "fps",
    "duration": "duration", "sample_rate": "audio_sample_rate", "bit_depth": "audio_bit_depth",
    "num_channels": "audio_num_channels", "codec": "codec",
}
COPY_COLUMNS = (
    "uuid", "organisation_id", "folder_id", "parent_id", "position", "item_type", "name", "url", "urls_key",
    "integration_id", "client_metadata", "status", "media_source", "file_size", "mime_type", "width", "height",
    "fps", "duration", "frame_count", "codec", "audio_sample_rate", "audio_bit_depth", "audio_num_channels",
    "import_job_id", "import_index", "created_by_id",
)  # every other column has a database default
_COPY_SQL = f"COPY {Item._meta.db_table} ({', '.join(COPY_COLUMNS)}) FROM STDIN"


def urls_key(urls: tuple[str, ...] | list[str]) -> str:
    """Identity of an entry's files for duplicate detection (the whole list for groups and series)."""
    return hashlib.sha1("\n".join(urls).encode()).hexdigest()


# --------------------------------------------------------------------------- submitting


@transaction.atomic
def import_job_create(
    *, user: User, folder: Folder, fileobj, file_name: str = "", integration: StorageIntegration | None = None,
    all_or_nothing: bool = False, skip_duplicate_urls: bool = False, upsert_metadata: bool = False,
) -> ImportJob:
    """Store the file and queue its job; returns at once. Editors of the folder may import.

    Options given here are combined with the file's own (either one turning an option on is enough).
    """
    folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
    size = getattr(fileobj, "size", None)
    if size is not None and size > settings.LOUPE_IMPORT_MAX_BYTES:
        raise ServiceValidationError({"file": f"The import file is {size:,} bytes; the limit is "
                                              f"{settings.LOUPE_IMPORT_MAX_BYTES:,} (LOUPE_IMPORT_MAX_BYTES)."})
    if integration is None:
        integration = integration_builtin_get_or_create(organisation=folder.organisation)
    elif integration.organisation_id != folder.organisation_id:
        raise ServiceValidationError({"integration": "Unknown storage integration."})
    job = ImportJob(
        organisation=folder.organisation, folder=folder, integration=integration, created_by=user,
        file_name=(file_name or getattr(fileobj, "name", "") or "import.json")[-255:],
        all_or_nothing=all_or_nothing, skip_duplicate_urls=skip_duplicate_urls, upsert_metadata=upsert_metadata,
    )
    job.source.save(f"{job.pk}.json", fileobj if isinstance(fileobj, File) else File(fileobj), save=False)
    job.save()
    from apps.imports.tasks import import_job_run_task

    transaction.on_commit(lambda: import_job_run_task.delay(str(job.pk)))
    return job


def import_job_create_from_data(*, user: User, folder: Folder, data: dict, **options) -> ImportJob:
    """The same, for a registration already in memory (API bodies, the Encord SDK's dicts)."""
    from django.core.files.base import ContentFile

    return import_job_create(
        user=user, folder=folder, fileobj=ContentFile(json.dumps(data).encode(), name="import.json"), **options
    )


def import_job_cancel(*, user: User, job: ImportJob) -> ImportJob:
    """Ask a job to stop after its current batch; a job not yet started is cancelled at once."""
    folder_require(user=user, folder=job.folder, role=FolderRole.EDITOR)
    job = job_cancel_request(model=ImportJob, pk=job.pk, related=("folder",))
    if job.status == ImportJobStatus.CANCELLED and job.started_at is None:
        # A waiting job may have been handed a load's index suspension: end it in a worker (rebuilding
        # an ANN index can take minutes), not in this request.
        from apps.imports.tasks import import_job_indexes_resume_task

        transaction.on_commit(lambda: import_job_indexes_resume_task.delay(str(job.pk)))
    return job


def import_job_indexes_resume(*, job_id) -> None:
    """End the bulk load a job that will not run (cancelled while waiting) was handed; idempotent."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None and job.is_finished:
        _resume_suspended_indexes(job)


# --------------------------------------------------------------------------- running


@dataclass
class _Batch:
    """What one transaction writes."""

    emit: object = None  # where rows go: the open COPY's write_row
    errors: list[ImportJobError] = field(default_factory=list)
    upserts: list[tuple[uuid.UUID, dict]] = field(default_factory=list)
    derived: list[tuple] = field(default_factory=list)  # (item uuid, fps, stored metadata, vectors)
    probe_ids: list[uuid.UUID] = field(default_factory=list)
    container_ids: list[uuid.UUID] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # urls_key of the items it registers
    done: int = 0
    skipped: int = 0

    def add(self, other: _Batch) -> None:
        """Count ``other`` (an entry written in its own savepoint) as part of this batch."""
        self.errors += other.errors
        self.probe_ids += other.probe_ids
        self.container_ids += other.container_ids
        self.done += other.done
        self.skipped += other.skipped


class _SubmitterLostAccess(Exception):
    """The job's submitter may no longer write into its folder: the job stops with this reason."""


def _submitter_require(job: ImportJob) -> None:
    """Jobs write with their submitter's access as it is when each batch runs, not as it was when the
    job was submitted: a member removed from the organisation or the folder, a deactivated user or a
    folder moved to the trash stops the job before its next batch."""
    user = User.objects.filter(pk=job.created_by_id, is_active=True).first()
    if user is None:
        raise _SubmitterLostAccess("The user who submitted the job is no longer active.")
    folder = Folder.objects.filter(pk=job.folder_id, deleted_at__isnull=True).first()
    if folder is None:
        raise _SubmitterLostAccess("The job's folder was deleted.")
    try:
        folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
    except (PermissionDenied, Http404):
        raise _SubmitterLostAccess("The user who submitted the job may no longer add data to its folder.") from None


class _AllOrNothingRefused(Exception):
    """All-or-nothing: the database refused an entry that passed validation; the import is undone."""

    def __init__(self, error: ImportJobError):
        super().__init__(error.reason)
        self.error = error


def import_job_run(*, job_id) -> ImportJob | None:
    """Run (or resume) a job to its end and return it; None when it is gone.

    Safe to call again at any point: a finished job, or one another run holds, is left alone
    (``apps.core.jobs.job_run``: lease, heartbeat, and ERROR with the reason on any exception).
    """
    return job_run(model=ImportJob, pk=job_id, work=_import_job_work)


def _import_job_work(claimed: ImportJob, owner: str) -> tuple[str, str]:
    job = ImportJob.objects.select_related("integration", "folder").get(pk=claimed.pk)
    job.lease_owner = owner
    resumed = job.next_index > 0  # an earlier run committed batches (and maybe died before enqueuing)
    try:
        with job.source.open("rb") as handle:
            file_options, counts = importformat.scan_import_file(handle, limits=importformat.LIMITS)
            if job.total is None:
                job.total = sum(counts.values())
                ImportJob.objects.filter(pk=job.pk).update(total=job.total)
            job.skip_duplicate_urls |= file_options.skip_duplicate_urls
            job.upsert_metadata |= file_options.upsert_metadata
            if job.all_or_nothing and job.next_index == 0 and _precheck_fails(job, handle, counts):
                return ImportJobStatus.ERROR, "Nothing was imported: the file has invalid entries."
            _suspend_indexes_for_bulk_load(job)
            finished = _run_batches(job, handle, counts)
    except JobLeaseLost:
        raise  # the run that took the job over finishes it (and its bulk load)
    except _SubmitterLostAccess as lost:
        _resume_suspended_indexes(job)
        return ImportJobStatus.ERROR, f"Stopped: {lost}"
    except _AllOrNothingRefused as refused:
        _resume_suspended_indexes(job)
        _import_undo(job, refused.error)
        refused_at = f"{refused.error.entry_index} ({refused.error.pointer})"
        return ImportJobStatus.ERROR, f"Nothing was imported: the database refused entry {refused_at}."
    except ImportFileError as exc:
        _resume_suspended_indexes(job)
        return ImportJobStatus.ERROR, str(exc)
    except Exception:
        _resume_suspended_indexes(job)
        raise
    _resume_suspended_indexes(job)
    if not finished:
        return ImportJobStatus.CANCELLED, ""
    if resumed:
        _enqueue_leftover_processing(job)
    return ImportJobStatus.DONE, ""


def _run_batches(job: ImportJob, handle, counts) -> bool:
    """Commit batches from ``next_index``; False when the job was cancelled on the way.

    Each batch's COPY is opened first and entries are parsed while it streams, so the database
    inserts rows on its own core while Python validates the next ones. With skip_duplicate_urls a
    batch is parsed up front instead, because its duplicates are looked up in one query.

    A batch that fails as a whole (a value the database refuses, or one Python cannot convert) is
    written again entry by entry (``_write_batch_one_by_one``): the entries at fault are recorded
    failed with their reason and the others committed, so no job loops on a poison entry. The
    stream then restarts after that batch.
    """
    _job_schema(job)  # loaded now: no query may run on the connection while a batch's COPY is open
    while True:
        handle.seek(0)
        start = ImportJob.objects.filter(pk=job.pk).values_list("next_index", flat=True).get()
        entries = importformat.iter_import_entries(handle, start_index=start, counts=counts,
                                                   limits=importformat.LIMITS)
        seen_keys: dict[str, uuid.UUID] = {}
        while True:
            try:
                if job.skip_duplicate_urls:
                    chunk = list(islice(entries, BATCH_ENTRIES))
                    existing = _existing_duplicates(job, chunk) if chunk else {}
                    consumed = _write_batch(job, chunk, seen_keys, existing=existing) if chunk else 0
                else:
                    consumed = _write_batch(job, islice(entries, BATCH_ENTRIES), seen_keys, existing={})
            except (JobLeaseLost, ImportFileError, _SubmitterLostAccess):
                raise
            except Exception as exc:  # noqa: BLE001 - isolate the entry at fault, below
                logger.warning("import job %s: a batch failed (%s); writing it entry by entry", job.pk,
                               error_reason(exc))
                consumed = _write_batch_one_by_one(job, counts)
                if consumed is not None and consumed == BATCH_ENTRIES:
                    break  # continue from the new next_index with a fresh stream
            if consumed is None:
                return False
            if consumed < BATCH_ENTRIES:
                return not _cancel_requested(job)


def _cancel_requested(job: ImportJob) -> bool:
    return ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists()


def _precheck_fails(job: ImportJob, handle, counts) -> bool:
    """All-or-nothing: validate every entry before writing any; record the errors if there are some."""
    handle.seek(0)
    errors = []
    for entry in importformat.iter_import_entries(handle, counts=counts, limits=importformat.LIMITS):
        _, _, error = _checked_entry(job, entry)
        if error is not None:
            errors.append(_error_row(job, error))
    ImportJobError.objects.bulk_create(errors, ignore_conflicts=True)
    if errors:
        ImportJob.objects.filter(pk=job.pk).update(failed=len(errors))
    return bool(errors)


def _write_batch(job: ImportJob, entries, seen_keys: dict[str, uuid.UUID], *, existing: dict) -> int | None:
    """Write up to one batch atomically with the job's progress; return how many entries it read.

    None when the job was cancelled. Entries below the job's committed ``next_index`` (written by
    another runner of the same job, e.g. a redelivered task) are read but not written again.
    """
    with transaction.atomic():
        locked = _batch_begin(job)
        if locked is None:
            return None  # cancelled, or deleted while running
        batch = _Batch()
        consumed, last_index = _copy_entries(job, entries, batch, existing, seen_keys, after=locked.next_index)
        if last_index is None:
            return consumed
        _write_derived(job, batch.derived)
        if batch.upserts:
            _apply_upserts(job, batch.upserts)
        _batch_commit(job, batch, next_index=last_index + 1)
    return consumed


def _write_batch_one_by_one(job: ImportJob, counts) -> int | None:
    """The batch at ``next_index`` again, each entry in its own savepoint; how many entries it read.

    An entry whose write fails is recorded failed, at its position, with the reason (the database's
    own message); the others are committed with the job's progress as one batch. The file is read
    through a second handle, so the stream of the failed batch is left as it was.
    """
    with job.source.storage.open(job.source.name, "rb") as handle, transaction.atomic():
        locked = _batch_begin(job)
        if locked is None:
            return None
        entries = list(islice(importformat.iter_import_entries(
            handle, start_index=locked.next_index, counts=counts, limits=importformat.LIMITS), BATCH_ENTRIES))
        existing = _existing_duplicates(job, entries) if job.skip_duplicate_urls else {}
        batch, seen_keys, last_index = _Batch(), {}, None
        for entry in entries:
            if entry.index < locked.next_index:
                continue
            last_index, one = entry.index, _Batch()
            try:
                with transaction.atomic():
                    _copy_entries(job, [entry], one, existing, seen_keys, after=locked.next_index)
                    _write_derived(job, one.derived)
                    if one.upserts:
                        _apply_upserts(job, one.upserts)
            except Exception as exc:  # noqa: BLE001 - this entry is the poison: record it and go on
                for key in one.keys:
                    seen_keys.pop(key, None)
                reason = f"Loupe could not store this entry: {error_reason(exc)}"
                logger.warning("import job %s: entry %s refused: %s", job.pk, entry.index, reason)
                error = _error_row(job, EntryError(entry.index, entry.pointer, reason, urls=tuple(entry.urls)))
                if job.all_or_nothing:
                    raise _AllOrNothingRefused(error) from exc
                batch.errors.append(error)
                continue
            batch.add(one)
        if last_index is not None:
            _batch_commit(job, batch, next_index=last_index + 1)
    return len(entries)


def _import_undo(job: ImportJob, error: ImportJobError) -> None:
    """All-or-nothing after a refused write: remove what earlier batches registered, keep the reason.

    (Metadata an ``upsert_metadata`` batch wrote onto existing items stays, as a normal, revertible
    metadata change in their history.)
    """
    with transaction.atomic():
        Item.objects.filter(import_job=job, parent__isnull=False).delete()
        Item.objects.filter(import_job=job).delete()
        ImportJobError.objects.filter(job=job).delete()
        error.save()
        ImportJob.objects.filter(pk=job.pk).update(registered=0, skipped=0, failed=1)


def _batch_begin(job: ImportJob) -> ImportJob | None:
    """Lock the job's row for a batch; None when it was cancelled or deleted, JobLeaseLost when taken over."""
    # Not waiting for the WAL flush is safe here: a batch lost in a crash loses its job progress
    # with it (same transaction), so the resumed job writes it again; nothing is half-applied.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
    locked = (ImportJob.objects.select_for_update().only("next_index", "cancel_requested", "lease_owner")
              .filter(pk=job.pk).first())
    if locked is None or locked.cancel_requested:
        return None
    job_lease_check(locked, job.lease_owner)
    _submitter_require(job)
    return locked


def _copy_entries(job: ImportJob, entries, batch: _Batch, existing: dict, seen_keys: dict, *, after: int):
    """Stream ``entries`` from position ``after`` into one COPY; returns (entries read, last index written)."""
    consumed, last_index = 0, None
    connection.ensure_connection()
    with _item_foreign_keys_held(job), connection.connection.cursor() as raw, raw.copy(_COPY_SQL) as copy:
        batch.emit = copy.write_row
        for entry in entries:
            consumed += 1
            if entry.index < after:
                continue
            _add_entry(job, entry, batch, existing, seen_keys)
            last_index = entry.index
    return consumed, last_index


@contextmanager
def _item_foreign_keys_held(job: ImportJob):
    """COPY the batch's items without a foreign-key check per row (``apps.core.foreign_keys``).

    Item rows reference their folder and, for a container's children, their parent. The folder is
    locked here ``FOR KEY SHARE`` (the lock each per-row check would take) and every parent is a row
    this same COPY has just written, before its children: the checks could not fail. They were
    about half of the database's work per item (two queued triggers a row, run at commit).
    """
    with connection.cursor() as cursor:
        held = rows_locked_for_key_share(cursor, table=Folder._meta.db_table, column="uuid", pks=[job.folder_id])
        with foreign_key_checks_skipped(cursor, references_held=held):
            yield


def _batch_commit(job: ImportJob, batch: _Batch, *, next_index: int) -> None:
    """The batch's error rows, counters, ``next_index`` and heartbeat, in the batch's transaction."""
    ImportJobError.objects.bulk_create(batch.errors, ignore_conflicts=True)
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        next_index=next_index, registered=_plus("registered", batch.done), skipped=_plus("skipped", batch.skipped),
        failed=_plus("failed", len(batch.errors)), heartbeat_at=now, updated_at=now,
    )
    _enqueue_processing(batch.probe_ids, batch.container_ids)


def _plus(field_name: str, amount: int):
    from django.db.models import F

    return F(field_name) + amount


def _existing_duplicates(job: ImportJob, entries: list) -> dict[str, uuid.UUID]:
    keys = [urls_key(e.urls) for e in entries if isinstance(e, ImportEntry)]
    return dict(
        Item.objects.filter(folder=job.folder, parent__isnull=True, deleted_at__isnull=True, urls_key__in=keys)
        .values_list("urls_key", "uuid")
    )


def _checked_entry(job: ImportJob, entry) -> tuple[dict, str | None, EntryError | None]:
    """The entry's metadata to store (and its JSON text when already encoded, else None), and every
    problem of a refused entry in one EntryError: the file format's, the integration's and the
    metadata schema's (all reported, not only the first)."""
    if isinstance(entry, EntryError):
        problems = list(entry.problems) or [Problem(entry.pointer, entry.reason)]
        entry_pointer = entry.entry_pointer or entry.pointer
        if entry.client_metadata is not None:
            problems += _metadata_problems(job, entry_pointer, entry.client_metadata)[1]
        return {}, None, entry_error(entry.index, entry_pointer, problems, urls=entry.urls)
    policy = _entry_policy_error(job, entry)
    if policy is None:
        text = _metadata_text_if_untyped(job, entry.client_metadata)
        if text is not None:
            return entry.client_metadata, text, None
    problems = [Problem(policy.pointer, policy.reason)] if policy is not None else []
    metadata, metadata_problems = _metadata_problems(job, entry.pointer, entry.client_metadata)
    problems += metadata_problems
    if problems:
        return metadata, None, entry_error(entry.index, entry.pointer, problems, urls=entry.urls)
    return metadata, None, None


def _entry_policy_error(job: ImportJob, entry: ImportEntry) -> EntryError | None:
    """Rules that depend on the integration rather than on the file format."""
    item_type = KIND_TO_TYPE[entry.kind]
    integration = job.integration
    if integration.kind != StorageIntegrationKind.S3:
        s3_url = next((url for url in entry.urls if url.startswith("s3://")), None)
        if s3_url is not None:
            pointer = entry.pointer if entry.kind in GROUP_KINDS else f"{entry.pointer}/objectUrl"
            return EntryError(entry.index, pointer, f"{s3_url} needs an S3 storage integration; this import "
                                                     f"uses '{integration.name}'")
    if integration.client_only and item_type in MEDIA_BLOCK_NAME and entry.media_metadata is None:
        return EntryError(entry.index, f"{entry.pointer}/{MEDIA_BLOCK_NAME[item_type]}",
                          f"the integration '{integration.name}' is client-only: Loupe never reads its files, "
                          f"so each entry must carry {MEDIA_BLOCK_NAME[item_type]}")
    return None


def _error_row(job: ImportJob, error: EntryError) -> ImportJobError:
    # Quoted input may hold what PostgreSQL refuses (NUL, lone surrogates): the error row must go in.
    return ImportJobError(job=job, entry_index=error.index, pointer=db_text(error.pointer, 512),
                          reason=db_text(error.reason), urls=[db_text(url) for url in error.urls])


def _add_entry(job: ImportJob, entry, batch: _Batch, existing: dict, seen_keys: dict) -> None:
    metadata, metadata_json, error = _checked_entry(job, entry)
    if error is not None:
        batch.errors.append(_error_row(job, error))
        return
    key = urls_key(entry.urls)
    if job.skip_duplicate_urls:
        duplicate = existing.get(key) or seen_keys.get(key)
        if duplicate is not None:
            if job.upsert_metadata:
                batch.upserts.append((duplicate, metadata))
                batch.done += 1
            else:
                batch.skipped += 1
            return
    item_id = uuid.uuid4()
    seen_keys[key] = item_id
    batch.keys.append(key)
    batch.done += 1
    stored = _split_metadata(job, entry, item_id, metadata, batch)
    if stored is not metadata or metadata_json is None:
        metadata_json = json.dumps(stored, ensure_ascii=False, separators=(",", ":")) if stored else "{}"
    _item_rows(job, entry, item_id, key, batch, metadata_json)


def _item_rows(job: ImportJob, entry: ImportEntry, item_id: uuid.UUID, key: str, batch: _Batch,
               metadata_json: str) -> None:
    item_type = KIND_TO_TYPE["image_sequence" if entry.create_video else entry.kind]
    supplied = entry.media_metadata or {}
    client_only = job.integration.client_only
    if entry.kind in CONTAINER_KINDS:  # plain strings: hashing an ItemType member runs Python code
        status = ItemStatus.READY if client_only else ItemStatus.PENDING
        batch.emit(_row(job, item_id, None, None, item_type, entry.title, "", key, metadata_json,
                        status, "", {}, entry.index))
        child_type = CHILD_TYPE[item_type]
        for position, url in enumerate(entry.urls):
            batch.emit(_row(job, uuid.uuid4(), item_id, position, child_type, url.rsplit("/", 1)[-1] or url,
                            url, "", "{}", status, "", {}, None))
        if not client_only:
            batch.container_ids.append(item_id)
        return
    if supplied or client_only:
        status, source = ItemStatus.READY, "supplied" if supplied else ""
    else:
        status, source = ItemStatus.PENDING, ""
        batch.probe_ids.append(item_id)
    batch.emit(_row(job, item_id, None, None, item_type, entry.title, entry.urls[0], key,
                    metadata_json, status, source, supplied, entry.index))


def _row(job, item_id, parent_id, position, item_type, name, url, key, metadata_json, status, source, media, index):
    # Runs once per item row (1.25M for the 1M benchmark): no intermediate dict, and the job's own ids
    # (the same on every row) go to the COPY as ready-made text rather than through a dumper each.
    organisation_id, folder_id, integration_id, job_id, created_by_id = _job_ids(job)
    get = media.get
    fps, duration = get("fps"), get("duration")
    return (
        item_id, organisation_id, folder_id, parent_id, position, item_type, name, url, key,
        integration_id, metadata_json, status, source, get("file_size"),
        get("mime_type") or "", get("width"), get("height"), fps, duration,
        int(round(fps * duration)) if fps and duration else None, get("codec") or "", get("sample_rate"),
        get("bit_depth"), get("num_channels"), job_id, index, created_by_id,
    )  # the order of COPY_COLUMNS; MEDIA_COLUMNS names the media block's fields


def _job_ids(job: ImportJob) -> tuple:
    if not hasattr(job, "_copy_ids"):
        job._copy_ids = tuple(None if value is None else str(value) for value in (
            job.organisation_id, job.folder_id, job.integration_id, job.pk, job.created_by_id))
    return job._copy_ids


def _metadata_problems(job: ImportJob, entry_pointer: str, metadata: dict) -> tuple[dict, list[Problem]]:
    """``clientMetadata`` against the organisation's schema (loaded once per run), as the metadata API
    checks it: the normalised object, and each problem at its JSON pointer in the file."""
    from apps.metadata.validation import validate_metadata

    if not metadata:
        return metadata, []
    normalised, errors = validate_metadata(metadata, _job_schema(job), max_bytes=settings.LOUPE_METADATA_MAX_BYTES)
    pointer = f"{entry_pointer}/clientMetadata"
    return normalised, [Problem(pointer + error.pointer, error.message) for error in errors]


def _metadata_text_if_untyped(job: ImportJob, metadata: dict) -> str | None:
    """The JSON text of ``metadata`` when ``validate_metadata`` with the job's schema could only
    pass it unchanged, else None (the caller then validates it in full).

    That holds for an ``ImportEntry``, whose metadata the file pass already checked with no schema
    (key names, ``$encord``, ``keyframes``: ``importformat``), when the schema types none of its
    top-level keys nor, with ``$encord``, any key of its frames (no schema keys at all), and when
    its JSON is within the size limit. The size is measured on the very text the COPY then writes,
    so the usual import (no schema, or schema keys absent from the entries) encodes each entry once
    and walks nothing in Python.
    """
    if not metadata:
        return None
    schema_keys = _job_schema(job).keys
    if schema_keys and (ENCORD_KEY in metadata or not schema_keys.keys().isdisjoint(metadata)):
        return None
    text = json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))
    limit = settings.LOUPE_METADATA_MAX_BYTES
    if limit is not None and len(text) * 4 > limit and len(text.encode()) > limit:
        return None  # validate_metadata words the refusal
    return text


def _job_schema(job: ImportJob):
    if not hasattr(job, "_schema"):
        from apps.metadata.selectors import schema_for

        job._schema = schema_for(organisation_id=job.organisation_id)
    return job._schema


def _split_metadata(job: ImportJob, entry: ImportEntry, item_id, metadata: dict, batch: _Batch) -> dict:
    """The JSON to store; embedding values and key frames go to their own tables after the COPY."""
    if not metadata or ("$encord" not in metadata and "keyframes" not in metadata
                        and not any(s.type == "embedding" for s in _job_schema(job).keys.values())):
        return metadata
    from apps.metadata.services.derived import split_vectors

    fps = (entry.media_metadata or {}).get("fps")
    stored, vectors, _ = split_vectors(metadata, _job_schema(job), fps=fps)
    if vectors or "$encord" in stored or "keyframes" in stored:
        batch.derived.append((item_id, fps, stored, vectors))
    return stored


def _write_derived(job: ImportJob, derived_rows: list[tuple]) -> None:
    if not derived_rows:
        return
    from apps.metadata.services import derived

    ids = derived.key_ids(job.organisation_id)
    vector_rows = [row for item_id, _, _, vectors in derived_rows for row in derived.vector_rows(item_id, vectors, ids)]
    with _derived_foreign_keys_held(key_ids={row[0] for row in vector_rows}):
        derived.frames_copy([row for item_id, fps, stored, _ in derived_rows
                             for row in derived.frame_rows(item_id, stored, fps=fps)])
        derived.vectors_copy(vector_rows)
    if vector_rows:  # projections of the organisation's vectors go stale (recomputed after commit)
        from apps.metadata.hooks import embeddings_changed_on_commit

        embeddings_changed_on_commit(job.organisation_id)


@contextmanager
def _derived_foreign_keys_held(*, key_ids: set[int]):
    """Write a batch's key-frame and embedding rows without a foreign-key check per row
    (``apps.core.foreign_keys``): every row points at an item this transaction has just inserted
    (no one else can see it) and at an embedding key, locked here ``FOR KEY SHARE``."""
    from apps.metadata.models import MetadataKey

    with connection.cursor() as cursor:
        held = rows_locked_for_key_share(cursor, table=MetadataKey._meta.db_table, column="id", pks=key_ids)
        with foreign_key_checks_skipped(cursor, references_held=held):
            yield


def _apply_upserts(job: ImportJob, upserts: list[tuple[uuid.UUID, dict]]) -> None:
    """``upsert_metadata``: replace the duplicates' metadata through the metadata service (history,
    key frames and embeddings included), in this batch's transaction."""
    from apps.metadata.services.updates import BULK_MAX_ITEMS, MetadataWrite, items_metadata_write

    for start in range(0, len(upserts), BULK_MAX_ITEMS):
        chunk = upserts[start:start + BULK_MAX_ITEMS]
        items_metadata_write(user=job.created_by, writes=[MetadataWrite(pk, md) for pk, md in chunk])


def _enqueue_processing(probe_ids: list, container_ids: list) -> None:
    if not probe_ids and not container_ids:
        return
    from apps.storage.tasks import item_container_process_task, item_probe_task

    def send():
        for start in range(0, len(probe_ids), PROBE_TASK_ITEMS):
            item_probe_task.delay([str(pk) for pk in probe_ids[start:start + PROBE_TASK_ITEMS]])
        for pk in container_ids:
            item_container_process_task.delay(str(pk))

    transaction.on_commit(send)


def _enqueue_leftover_processing(job: ImportJob) -> None:
    """Re-send processing for items still pending: covers a crash between a commit and its enqueue.

    Processing tasks skip items that are no longer pending, so a duplicate send costs nothing.
    """
    pending = Item.objects.filter(import_job=job, parent__isnull=True, status=ItemStatus.PENDING)
    singles = list(pending.exclude(item_type__in=ItemType.containers()).values_list("uuid", flat=True))
    containers = list(pending.filter(item_type__in=ItemType.containers()).values_list("uuid", flat=True))
    with transaction.atomic():
        _enqueue_processing(singles, containers)


# Entries an import file not yet scanned is counted for, by its size: registration files run ~300-1,000
# bytes an entry (bench/generate.py's: ~500), so this errs towards counting a load as smaller.
BYTES_PER_ENTRY_ESTIMATE = 1_000


def import_load_entries(job: ImportJob) -> int:
    """The entries of the load ``job`` belongs to: its own, plus those of the organisation's other
    unfinished imports (their counted totals, or an estimate from the file size for those not scanned
    yet, at least 1 each). A large data set is often sent as many files at once (58 files for 1M
    entries in the bench): each alone is small, together they are a large load."""
    others = ImportJob.objects.filter(organisation_id=job.organisation_id).exclude(pk=job.pk) \
        .exclude(status__in=ImportJobStatus.finished())
    entries = job.total or 0
    for other in others.only("pk", "total", "source"):
        if other.total is not None:
            entries += other.total
            continue
        try:
            entries += max(1, other.source.size // BYTES_PER_ENTRY_ESTIMATE)
        except (OSError, ValueError):  # the file is gone or unreadable: its own run will say so
            entries += 1
    return entries


def _suspend_indexes_for_bulk_load(job: ImportJob) -> None:
    """Large loads set key indexes (ANN, Explorer) aside and rebuild them at the end (see bulk_load):
    large by the job's own entries or by the organisation's concurrent imports together."""
    if job.suspended_index_keys:
        return
    threshold = settings.LOUPE_BULK_INDEX_THRESHOLD
    if (job.total or 0) < threshold and import_load_entries(job) < threshold:
        return
    from apps.metadata.services.bulk_load import key_indexes_suspend

    job.suspended_index_keys = key_indexes_suspend(organisation_id=job.organisation_id)
    ImportJob.objects.filter(pk=job.pk).update(suspended_index_keys=job.suspended_index_keys)


def _resume_suspended_indexes(job: ImportJob) -> None:
    """End the bulk load this job counted, once it ends (whatever the end).

    While another import of the organisation still waits to run, the load is not over: the count
    passes to that job instead (one UPDATE under both rows' locks) and ends with it. A load sent as
    many files runs them a few at a time; ending each file's count would let the counter touch zero
    between files, and each touch would rebuild every index over the rows loaded so far while the
    next files go on writing (the 1M benchmark's 58 files did that several times over).
    """
    with transaction.atomic():
        keys = ImportJob.objects.select_for_update().filter(pk=job.pk) \
            .values_list("suspended_index_keys", flat=True).first()
        job.suspended_index_keys = []
        if not keys:
            return
        ImportJob.objects.filter(pk=job.pk).update(suspended_index_keys=[])
        # A waiting job, not a running one: a run reads its count when it starts (after its claim,
        # which waits on this lock), so a PENDING heir cannot miss what it inherits.
        heir = ImportJob.objects.select_for_update(skip_locked=True).filter(
            organisation_id=job.organisation_id, status=ImportJobStatus.PENDING, suspended_index_keys=[],
        ).exclude(pk=job.pk).order_by("created_at").first()
        if heir is not None:
            ImportJob.objects.filter(pk=heir.pk).update(suspended_index_keys=keys)
            return
    from apps.metadata.services.bulk_load import key_indexes_resume

    key_indexes_resume(key_ids=keys)
