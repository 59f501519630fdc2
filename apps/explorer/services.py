"""Actions on a selection: bulk-edit metadata, move to a folder, move to the trash.

Each resolves the selection with ``selection_queryset`` (editor role: all or nothing) and hands the
items to the service that already owns the write: ``items_metadata_bulk_write`` (the one metadata
write engine: validation, locks, history), ``items_move``, ``items_trash``.

Bulk edit over more than ``BULK_MAX_ITEMS`` items becomes a metadata patch job
(``apps.metadata.services.jobs_patch``): the selection's uuids are read once, at submission, into the
job row by one SQL statement over the compiled filter, and the worker merges the patch into them in
batches of set-based SQL (update and history in one statement). The job engine gives the large edit
everything a metadata file has: batched commits that carry ``next_index`` in the same transaction as
the writes and history (a killed worker resumes without applying an item twice), lease, heartbeat and
sweep, cancel, progress and per-item errors, polled at ``/api/v1/metadata/jobs/<uuid>``. Snapshotting
the uuids (rather than re-running the filter per batch) keeps the set fixed while the edit runs: an
edit that changes the filtered key cannot move items in or out of its own selection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db import transaction

from apps.core.errors import ServiceValidationError
from apps.explorer.selection import Selection, selection_queryset
from apps.metadata.models_jobs import MetadataJob
from apps.metadata.selectors import schema_for
from apps.metadata.services.jobs_patch import metadata_patch_job_create
from apps.metadata.services.updates import BULK_MAX_ITEMS, MetadataWrite, items_metadata_bulk_write
from apps.metadata.validation import key_name_error, validate_metadata
from apps.storage.models import Folder, FolderRole, Item
from apps.storage.permissions import folder_get_for
from apps.storage.services.items import items_move, items_trash

PATCH_MEMBERS = ("set", "remove", "merge")
REMOVE_MAX = 1000  # keys removed by one edit
ACTION_ITEMS_MAX = 100_000  # items moved or trashed by one request (one UPDATE each, ~2 s at the cap)


@dataclass(frozen=True)
class BulkEditResult:
    """``matched`` items were written (``changed`` of them differ afterwards), or ``job`` will write them."""

    matched: int
    changed: int | None = None
    job: MetadataJob | None = None


def bulk_edit_patch(*, set_values=None, remove=None, merge=None, organisation) -> dict:
    """The JSON merge-patch that sets ``set_values``, removes the ``remove`` keys and merges ``merge``,
    validated against the organisation's schema (400s keyed ``set.<key>``/``merge.<key>``/``remove[i]``).

    ``set`` overwrites values (an object only when it is a declared geospatial value, which always has
    exactly its two members); ``merge`` is a JSON merge-patch (RFC 7386: nested objects merge, ``null``
    removes). A key in two of them is refused.
    """
    set_values = {} if set_values is None else set_values
    merge = {} if merge is None else merge
    remove = [] if remove is None else remove
    for name, value in (("set", set_values), ("merge", merge)):
        if not isinstance(value, dict):
            raise ServiceValidationError({name: "A JSON object of metadata keys and values."})
    if not isinstance(remove, list) or len(remove) > REMOVE_MAX:
        raise ServiceValidationError({"remove": f"A list of at most {REMOVE_MAX} metadata key names."})
    for index, key in enumerate(remove):
        problem = key_name_error(key)
        if problem:
            raise ServiceValidationError({f"remove[{index}]": problem})
    if not (set_values or merge or remove):
        raise ServiceValidationError({"set": 'Nothing to change: give "set", "remove" or "merge".'})
    seen: dict[str, str] = {}
    for name, keys in (("set", list(set_values)), ("remove", remove), ("merge", list(merge))):
        for key in keys:
            if key in seen:
                raise ServiceValidationError({f"{name}.{key}": f"The key is also in {seen[key]}; name it once."})
            seen[key] = name
    schema = schema_for(organisation_id=organisation.pk)
    for name, values in (("set", set_values), ("merge", _without_nulls(merge))):
        for key, value in values.items():
            if name == "set" and value is None:
                raise ServiceValidationError({f"set.{key}": 'null is not a value; use "remove" to remove a key.'})
            spec = schema.keys.get(key)
            if name == "set" and isinstance(value, dict) and (spec is None or spec.type != "geospatial"):
                # The engine applies a merge-patch, which would merge this object into the old one.
                raise ServiceValidationError({f"set.{key}": 'An object value merges into the old one: send it '
                                                            'in "merge" (or "remove" the key first).'})
            _, problems = validate_metadata({key: value}, schema)
            if problems:
                raise ServiceValidationError({f"{name}.{key}": [p.message for p in problems[:5]]})
    return {**merge, **set_values, **{key: None for key in remove}}


def _without_nulls(patch):
    if not isinstance(patch, dict):
        return patch
    return {key: _without_nulls(value) for key, value in patch.items() if value is not None}


def selection_bulk_edit(*, user, organisation, selection: Selection, patch: dict) -> BulkEditResult:
    """Apply ``patch`` (from ``bulk_edit_patch``) to every item of ``selection``.

    Up to ``BULK_MAX_ITEMS`` items: one transaction through ``items_metadata_bulk_write`` (one history
    row per item; any refusal writes nothing). More: a metadata job over the selection's uuids.
    """
    with transaction.atomic():
        items = selection_queryset(user=user, organisation=organisation, selection=selection, role=FolderRole.EDITOR)
        pks = list(items.order_by("pk").values_list("pk", flat=True)[:BULK_MAX_ITEMS + 1])
        if len(pks) <= BULK_MAX_ITEMS:
            changes = items_metadata_bulk_write(user=user, writes=[MetadataWrite(pk, patch, merge=True) for pk in pks])
            return BulkEditResult(matched=len(pks), changed=sum(1 for change in changes if change.keys))
        return _bulk_edit_job(user=user, organisation=organisation, selection=selection, items=items, patch=patch)


def _bulk_edit_job(*, user, organisation, selection: Selection, items, patch: dict) -> BulkEditResult:
    """Queue a patch job over the selection's items (their uuids read once, in SQL)."""
    folder = Folder.objects.get(pk=selection.folder) if selection.folder else None
    job = metadata_patch_job_create(user=user, items=items, patch=patch, folder=folder,
                                    organisation=None if folder else organisation)
    return BulkEditResult(matched=job.total, job=job)


def _action_items(*, user, organisation, selection: Selection) -> list[Item]:
    items = selection_queryset(user=user, organisation=organisation, selection=selection, role=FolderRole.EDITOR)
    rows = list(items.order_by("pk").only("uuid", "name", "folder_id", "parent_id", "organisation_id")
                [:ACTION_ITEMS_MAX + 1])
    if len(rows) > ACTION_ITEMS_MAX:
        raise ServiceValidationError({"items": f"At most {ACTION_ITEMS_MAX:,} items per request; narrow the selection."})
    return rows


@transaction.atomic
def selection_move(*, user, organisation, selection: Selection, destination: uuid.UUID) -> int:
    """Move every item of ``selection`` (with its children) to ``destination``; the number of items moved.

    Editor on the items' folders and on the destination (``items_move``); a destination the user cannot
    see is a 404.
    """
    folder = folder_get_for(user=user, pk=destination)
    items = _action_items(user=user, organisation=organisation, selection=selection)
    if items:
        items_move(user=user, items=items, destination=folder)
    return len(items)


@transaction.atomic
def selection_trash(*, user, organisation, selection: Selection) -> tuple[int, uuid.UUID | None]:
    """Move every item of ``selection`` to the trash: (items trashed, the batch id that restores them)."""
    items = _action_items(user=user, organisation=organisation, selection=selection)
    return len(items), (items_trash(user=user, items=items) if items else None)
