"""Metadata jobs: apply a CSV or JSON file of item metadata to a folder tree (or an organisation).

The three doors (REST API, ``manage.py import_metadata``, and anything else that holds a file) call
``metadata_job_create``; a Celery task calls ``metadata_job_run``.

Why it is shaped like this (the import engine's pattern, ``apps.imports.services.imports``):
* The file is streamed twice (``job_files``): a cheap scan that counts rows and refuses a malformed
  file before anything is written, then the row pass (``csv.reader`` / ``ijson``); no pass holds it.
* Rows go in chunks of ``CHUNK_ROWS``. A chunk resolves its items in one query per match kind,
  validates row by row (an invalid row becomes a job error; the others still go through), writes the
  valid rows with ``items_metadata_bulk_write`` (history, key frames and embeddings included), and commits
  that together with the job's ``next_index`` and counters, under a row lock on the job. A worker
  killed anywhere resumes at ``next_index`` without applying a row twice, and a second runner of
  the same job (a redelivered task) skips what the first one committed. Lease, heartbeat, sweep and
  ERROR-on-exception come from ``apps.core.jobs``. A chunk the database refuses as a whole is applied
  again row by row in savepoints: the row at fault is recorded failed with the reason.

File formats (``docs``: spec/metadata.md, "Bulk ... Larger batches go through a job"):
* JSON ``{"mode": "merge"|"replace", "match": "uuid"|"url"|"title", "items": {"<key>": {...}}}``;
  ``items`` may also be a list, and the whole file may be that list:
  ``[{"item"|"url"|"title": "...", "metadata": {...}}]`` (``item`` is the uuid).
* CSV with a header: the first column (``uuid``, ``url`` or ``title``) names the item, the others
  are metadata keys. A cell holding a JSON number, boolean, null, object, array or string literal
  (``"007"``) is that value; any other text is a string; an empty cell leaves the key alone (merge)
  or omits it (replace).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from itertools import islice

import ijson
import psycopg
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import File
from django.db import connection, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from apps.core.errors import ServiceValidationError
from apps.core.heap import heap_frozen
from apps.core.jobs import (
    JobLeaseLost, db_text, error_reason, job_cancel_request, job_lease_check, job_run,
)
from apps.core.models import OrganisationRole
from apps.core.selectors import organisation_memberships
from apps.metadata.models_jobs import (
    MetadataJob, MetadataJobError, MetadataJobFormat, MetadataJobMatch, MetadataJobMode, MetadataJobStatus,
)
from apps.metadata.selectors import schema_for
from apps.metadata.services.job_files import FileFacts, FileRow, MetadataFileError, file_rows, file_scan
from apps.metadata.services.updates import MetadataWrite, items_metadata_bulk_write
from apps.metadata.validation import metadata_size_bound, validate_metadata
from apps.storage.models import Folder, FolderRole, Item
from apps.storage.permissions import folder_grants, folder_require, organisation_require_member

logger = logging.getLogger(__name__)

# Rows per transaction, ~0.4 s of work: five bulk requests' worth, so that the per-transaction costs
# (job row lock, progress, commit, schema and permission reads) are paid once per 5,000 rows.
CHUNK_ROWS = 5000
ERRORS_PER_ROW_MAX = 5  # validation problems quoted in one row's error


# --------------------------------------------------------------------------- the file's options


def _settle_options(job: MetadataJob, facts: FileFacts) -> None:
    """Agree the submitted ``mode``/``match`` with the file's own; save them and the row count."""
    for name in ("mode", "match"):
        chosen, in_file = getattr(job, name), getattr(facts, name)
        if chosen and in_file and chosen != in_file:
            raise MetadataFileError(f"The job was submitted with {name} {chosen}, but the file says {in_file}.")
    job.mode = job.mode or facts.mode or MetadataJobMode.MERGE
    if facts.shape == "csv" or facts.shape == "items-map":
        job.match = job.match or facts.match or MetadataJobMatch.UUID
    job.total = facts.total
    MetadataJob.objects.filter(pk=job.pk).update(mode=job.mode, match=job.match, total=job.total)


# --------------------------------------------------------------------------- submitting


def _file_format(fileobj, file_name: str) -> str:
    lowered = file_name.lower()
    if lowered.endswith((".csv", ".tsv", ".txt")):
        return MetadataJobFormat.CSV
    if lowered.endswith(".json"):
        return MetadataJobFormat.JSON
    head = fileobj.read(64)
    fileobj.seek(0)
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    return MetadataJobFormat.JSON if text.lstrip("\ufeff \t\r\n")[:1] in ("{", "[") else MetadataJobFormat.CSV


def _require_organisation_editor(*, user, organisation) -> None:
    """Organisation-wide jobs: members who can edit at least one folder tree (admins edit them all)."""
    if organisation_require_member(user=user, organisation=organisation) == OrganisationRole.ADMIN:
        return
    if not folder_grants(user=user).filter(folder__organisation=organisation,
                                           role__in=(FolderRole.EDITOR, FolderRole.ADMIN)).exists():
        raise PermissionDenied("This needs the editor role on at least one folder of the organisation.")


@transaction.atomic
def metadata_job_create(
    *, user, fileobj, folder: Folder | None = None, organisation=None, mode: str = "", match: str = "",
    file_name: str = "",
) -> MetadataJob:
    """Store the file and queue its job; returns at once.

    The scope is ``folder`` with everything below it (editors of the folder may submit), or, with
    ``organisation`` instead, every folder of it the submitter can edit. ``mode``/``match`` left
    empty are taken from the file (then merge, and uuid).
    """
    if folder is not None:
        folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
        organisation = folder.organisation
    elif organisation is not None:
        _require_organisation_editor(user=user, organisation=organisation)
    else:
        raise ServiceValidationError({"folder": "Name a folder (or an organisation for all of its folders)."})
    if mode not in ("", *MetadataJobMode.values):
        raise ServiceValidationError({"mode": "Use merge or replace."})
    if match not in ("", *MetadataJobMatch.values):
        raise ServiceValidationError({"match": "Use uuid, url or title."})
    size = getattr(fileobj, "size", None)
    if size is not None and size > settings.LOUPE_IMPORT_MAX_BYTES:
        raise ServiceValidationError({"file": f"The file is {size:,} bytes; the limit is "
                                              f"{settings.LOUPE_IMPORT_MAX_BYTES:,} (LOUPE_IMPORT_MAX_BYTES)."})
    file_name = (file_name or getattr(fileobj, "name", "") or "metadata").rsplit("/", 1)[-1][-255:]
    job = MetadataJob(organisation=organisation, folder=folder, created_by=user, file_name=file_name,
                      file_format=_file_format(fileobj, file_name), mode=mode, match=match)
    job.source.save(f"{job.pk}.{job.file_format}", fileobj if isinstance(fileobj, File) else File(fileobj),
                    save=False)
    job.save()
    from apps.metadata.tasks import metadata_job_run_task

    transaction.on_commit(lambda: metadata_job_run_task.delay(str(job.pk)))
    return job


def _require_job_editor(*, user, job: MetadataJob) -> None:
    if job.folder_id is not None:
        folder_require(user=user, folder=job.folder, role=FolderRole.EDITOR)
        return
    role = _organisation_role(user, job.organisation_id)
    if role is None or (role != OrganisationRole.ADMIN and job.created_by_id != user.pk):
        raise Http404("No such metadata job.")


def _organisation_role(user, organisation_id) -> str | None:
    """``user``'s current role in the organisation (None once removed or deactivated)."""
    return (organisation_memberships(user=user).filter(organisation_id=organisation_id)
            .values_list("role", flat=True).first())


def metadata_job_cancel(*, user, job: MetadataJob) -> MetadataJob:
    """Ask a job to stop after its current chunk; a job not yet started is cancelled at once.

    Chunks already committed stay applied (each is a normal, revertible metadata change).
    """
    _require_job_editor(user=user, job=job)
    return job_cancel_request(model=MetadataJob, pk=job.pk, related=("folder",))


# --------------------------------------------------------------------------- running


@dataclass
class _Scope:
    """What a run may touch: live folders (the subtree, or the organisation's editable trees)."""

    folder_ids: set
    folder_list: list
    schema: object
    merge: bool


def _scope(job: MetadataJob) -> _Scope:
    user = job.created_by
    if user is None or not user.is_active:
        raise PermissionDenied("The user who submitted the job is no longer active.")
    if job.folder_id is not None:
        folder = Folder.objects.filter(pk=job.folder_id).first()
        if folder is None or folder.deleted_at is not None:
            raise PermissionDenied("The job's folder was deleted.")
        folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
        folders = Folder.objects.live().subtree_of(folder)
    else:
        folders = Folder.objects.live().filter(organisation_id=job.organisation_id)
        role = _organisation_role(user, job.organisation_id)
        if role is None:
            raise PermissionDenied("The user who submitted the job is no longer in the organisation.")
        if role != OrganisationRole.ADMIN:
            roots = folder_grants(user=user).filter(role__in=(FolderRole.EDITOR, FolderRole.ADMIN))
            folders = folders.filter(root_id__in=roots.values("folder_id"))
    folder_list = list(folders.values_list("pk", flat=True))
    return _Scope(folder_ids=set(folder_list), folder_list=folder_list,
                  schema=schema_for(organisation_id=job.organisation_id), merge=job.mode == MetadataJobMode.MERGE)


def metadata_job_run(*, job_id) -> MetadataJob | None:
    """Run (or resume) a job to its end and return it; None when it is gone.

    Safe to call again at any point: a finished job, or one another run holds, is left alone
    (``apps.core.jobs.job_run``: lease, heartbeat, and ERROR with the reason on any exception).
    """
    return job_run(model=MetadataJob, pk=job_id, work=_metadata_job_work)


def _metadata_job_work(claimed: MetadataJob, owner: str) -> tuple[str, str]:
    job = MetadataJob.objects.select_related("folder", "created_by").defer("items").get(pk=claimed.pk)
    job.lease_owner = owner
    if job.patch is not None:
        from apps.metadata.services.jobs_patch import patch_job_work  # it reads this module's _scope

        return patch_job_work(job)
    try:
        facts = file_scan(job)
        _settle_options(job, facts)
        scope = _scope(job)
        with job.source.open("rb") as handle, heap_frozen():
            finished = _run_chunks(job, file_rows(handle, job, facts), scope)
    except MetadataFileError as exc:
        return MetadataJobStatus.ERROR, str(exc)
    except (PermissionDenied, Http404) as exc:
        return MetadataJobStatus.ERROR, f"Stopped: {exc}"
    return (MetadataJobStatus.DONE if finished else MetadataJobStatus.CANCELLED), ""


def _run_chunks(job: MetadataJob, rows, scope: _Scope) -> bool:
    """Commit chunks from ``next_index``; False when the job was cancelled on the way."""
    while True:
        try:
            chunk = list(islice(rows, CHUNK_ROWS))
        except ijson.JSONError as exc:  # the scan read the same bytes; only a changed file gets here
            raise MetadataFileError(f"The file is not valid JSON: {exc}") from exc
        if not chunk:
            return not MetadataJob.objects.filter(pk=job.pk, cancel_requested=True).exists()
        if not _write_chunk(job, chunk, scope):
            return False


def _write_chunk(job: MetadataJob, chunk: list[FileRow], scope: _Scope) -> bool:
    """Apply one chunk atomically with the job's progress; False when the job was cancelled.

    Rows below the committed ``next_index`` (applied by another runner of the same job) are skipped.
    A chunk that fails as a whole (a value the database refuses) is applied again row by row, each
    in its own savepoint: the rows at fault are recorded failed with the reason, the others applied,
    so that no job loops on a poison row.
    """
    try:
        return _write_rows(job, chunk, scope, one_by_one=False)
    except (JobLeaseLost, PermissionDenied, Http404):
        raise
    except Exception as exc:  # noqa: BLE001 - isolate the row at fault, below
        logger.warning("metadata job %s: a chunk failed (%s); applying it row by row", job.pk, error_reason(exc))
        return _write_rows(job, chunk, scope, one_by_one=True)


def _write_rows(job: MetadataJob, chunk: list[FileRow], scope: _Scope, *, one_by_one: bool) -> bool:
    with transaction.atomic():
        # Not waiting for the WAL flush is safe: a chunk lost in a crash loses its job progress with
        # it (same transaction), so the resumed job applies it again; nothing is half-applied.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        locked = (MetadataJob.objects.select_for_update().only("next_index", "cancel_requested", "lease_owner")
                  .filter(pk=job.pk).first())
        if locked is None or locked.cancel_requested:
            return False
        job_lease_check(locked, job.lease_owner)
        rows = [row for row in chunk if row.index >= locked.next_index]
        if not rows:
            return True
        errors: dict[int, str] = {row.index: row.error for row in rows if row.error}
        if one_by_one:
            done = sum(_apply_row_alone(job, row, scope, errors) for row in rows if row.index not in errors)
        else:
            targets = _resolve(rows, scope, errors)
            done = _apply(job, _valid_writes(rows, targets, scope, errors), errors)
        MetadataJobError.objects.bulk_create(
            [MetadataJobError(job_id=job.pk, row=row.index + 1, location=db_text(row.location, 512),
                              key=db_text(row.key, 1024), reason=db_text(errors[row.index]))
             for row in rows if row.index in errors],
            ignore_conflicts=True,
        )
        now = timezone.now()
        MetadataJob.objects.filter(pk=job.pk).update(
            next_index=rows[-1].index + 1, done=F("done") + done, failed=F("failed") + len(errors),
            heartbeat_at=now, updated_at=now,
        )
    return True


def _apply_row_alone(job: MetadataJob, row: FileRow, scope: _Scope, errors: dict[int, str]) -> int:
    """Resolve, validate and write one row in its own savepoint; 1 when it was applied."""
    try:
        with transaction.atomic():
            targets = _resolve([row], scope, errors)
            return _apply(job, _valid_writes([row], targets, scope, errors), errors)
    except (JobLeaseLost, PermissionDenied, Http404):
        raise
    except Exception as exc:  # noqa: BLE001 - this row is the poison: record it and go on
        errors[row.index] = f"Loupe could not apply this row: {error_reason(exc)}"
        logger.warning("metadata job %s: row %s refused: %s", job.pk, row.index + 1, errors[row.index])
        return 0


def _urls_key(url: str) -> str:
    """``Item.urls_key`` of a single-file item (the import engine's SHA-1 of its one-URL list)."""
    return hashlib.sha1(url.encode()).hexdigest()


def _resolve(rows: list[FileRow], scope: _Scope, errors: dict[int, str]) -> dict[int, uuid.UUID]:
    """Row index → item uuid, with one query per match kind; unmatched rows get their error."""
    wanted: dict[str, list[FileRow]] = {}
    for row in rows:
        if row.index not in errors:
            wanted.setdefault(row.match, []).append(row)
    found: dict[tuple[str, str], list] = {}
    if MetadataJobMatch.UUID in wanted:
        found.update(_items_by_uuid(wanted[MetadataJobMatch.UUID], scope, errors))
    if MetadataJobMatch.URL in wanted:
        found.update(_items_by_url(wanted[MetadataJobMatch.URL], scope))
    if MetadataJobMatch.TITLE in wanted:
        found.update(_items_by_title(wanted[MetadataJobMatch.TITLE], scope))
    targets = {}
    for match, match_rows in wanted.items():
        for row in match_rows:
            if row.index in errors:
                continue
            pks = found.get((match, row.key), [])
            if len(pks) == 1:
                targets[row.index] = pks[0]
            elif not pks:
                errors[row.index] = _not_found(match, row.key)
            else:
                errors[row.index] = (f"{len(pks)} items have the {match} {row.key!r} in this job's folders; "
                                     "match them by uuid")
    return targets


def _not_found(match: str, key: str) -> str:
    what = {"uuid": "no item", "url": "no single-file item with url", "title": "no item titled"}[match]
    return f"{what} {key} in this job's folders" if match != "title" else f"{what} {key!r} in this job's folders"


# Positions (1-based) in the uuid array of the live items in the job's folders: ints load faster than uuids.
_ITEMS_BY_UUID_SQL = (
    f"SELECT w.n FROM unnest(%s::uuid[]) WITH ORDINALITY AS w(uuid, n) JOIN {Item._meta.db_table} i "
    "ON i.uuid = w.uuid WHERE i.deleted_at IS NULL AND i.folder_id = ANY(%s)"
)
# Served by the (folder, urls_key) index; items registered without a urls_key (uploads) by their url.
_ITEMS_BY_URL_SQL = (
    f"SELECT uuid, url FROM {Item._meta.db_table} WHERE folder_id = ANY(%s) AND parent_id IS NULL "
    "AND deleted_at IS NULL AND (urls_key = ANY(%s) OR (urls_key = '' AND url = ANY(%s)))"
)
_ITEMS_BY_TITLE_SQL = (
    f"SELECT uuid, name FROM {Item._meta.db_table} WHERE folder_id = ANY(%s) AND parent_id IS NULL "
    "AND deleted_at IS NULL AND name = ANY(%s)"
)  # served by the (folder, name) index


def _fetch(sql: str, params: list) -> list[tuple]:
    # Raw SQL with one array per list, bound server-side in binary: the ORM's ``__in`` sends a
    # placeholder per value, and Django's cursor quotes every element into the SQL text.
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def _items_by_uuid(rows: list[FileRow], scope: _Scope, errors: dict) -> dict:
    ids = {}
    for row in rows:
        try:
            ids[row.key] = uuid.UUID(row.key)
        except ValueError:
            errors[row.index] = f"{row.key!r} is not a uuid"
    keys = list(ids)
    found = _fetch(_ITEMS_BY_UUID_SQL, [[ids[key] for key in keys], scope.folder_list])
    return {("uuid", keys[n - 1]): [ids[keys[n - 1]]] for (n,) in found}


def _items_by_url(rows: list[FileRow], scope: _Scope) -> dict:
    urls = {row.key for row in rows}
    found: dict = {}
    for pk, url in _fetch(_ITEMS_BY_URL_SQL, [scope.folder_list, [_urls_key(url) for url in urls], list(urls)]):
        if url in urls:  # a container's key can equal a URL's; only the file itself has that url
            found.setdefault(("url", url), []).append(pk)
    return found


def _items_by_title(rows: list[FileRow], scope: _Scope) -> dict:
    found: dict = {}
    for pk, name in _fetch(_ITEMS_BY_TITLE_SQL, [scope.folder_list, list({row.key for row in rows})]):
        found.setdefault(("title", name), []).append(pk)
    return found


def _without_nulls(patch):
    """A merge patch minus its deletions: the values it sets (what the bulk service validates)."""
    if not isinstance(patch, dict):
        return patch
    return {key: _without_nulls(value) for key, value in patch.items() if value is not None}


def _valid_writes(rows: list[FileRow], targets: dict, scope: _Scope, errors: dict) -> list[tuple[FileRow, MetadataWrite]]:
    """Validate each matched row as the bulk service will, so that the service only gets valid rows."""
    writes = []
    max_bytes = settings.LOUPE_METADATA_MAX_BYTES
    # One size bound for the chunk: when it fits, no row can be over the limit (no per-row encoding).
    if metadata_size_bound([row.metadata for row in rows if row.index not in errors]) <= max_bytes:
        max_bytes = None
    for row in rows:
        if row.index in errors:
            continue
        metadata = row.metadata
        if scope.merge and not metadata:
            writes.append((row, None))  # nothing to change: done, without a history row
            continue
        _, problems = validate_metadata(_without_nulls(metadata) if scope.merge else metadata, scope.schema,
                                        max_bytes=max_bytes)
        if problems:
            errors[row.index] = "; ".join(p.message for p in problems[:ERRORS_PER_ROW_MAX]) + (
                f" (and {len(problems) - ERRORS_PER_ROW_MAX} more)" if len(problems) > ERRORS_PER_ROW_MAX else "")
            continue
        writes.append((row, MetadataWrite(targets[row.index], metadata, merge=scope.merge)))
    return writes


def _apply(job: MetadataJob, writes: list[tuple[FileRow, MetadataWrite | None]], errors: dict) -> int:
    """Write the valid rows; rows naming an item again go in a later round, so file order wins."""
    rounds: list[dict] = []
    done = 0
    for row, write in writes:
        if write is None:
            done += 1
            continue
        for pending in rounds:
            if write.item_id not in pending:
                pending[write.item_id] = (row, write)
                break
        else:
            rounds.append({write.item_id: (row, write)})
    for pending in rounds:
        done += _apply_round(job, list(pending.values()), errors)
    return done


def _apply_round(job: MetadataJob, pairs: list[tuple[FileRow, MetadataWrite]], errors: dict) -> int:
    try:
        items_metadata_bulk_write(user=job.created_by, writes=[write for _, write in pairs], max_items=CHUNK_ROWS)
        return len(pairs)
    except (ServiceValidationError, PermissionDenied, Http404):
        pass  # a refusal the row checks cannot see (a merged result over the size limit, an item just
        # trashed): find the rows responsible, one savepoint each
    done = 0
    for row, write in pairs:
        try:
            items_metadata_bulk_write(user=job.created_by, writes=[write])
            done += 1
        except ServiceValidationError as exc:
            errors[row.index] = "; ".join(m for messages in exc.message_dict.values() for m in messages)
        except (PermissionDenied, Http404) as exc:
            errors[row.index] = str(exc)
    return done
