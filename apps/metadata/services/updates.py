"""Writes of item metadata: replace, merge (JSON merge-patch), bulk, history and revert.

One function does all of them (``items_metadata_write``), because single writes, bulk requests, the
Encord SDK's bundles and reverts must validate, lock, record and derive in exactly the same way:

1. In one transaction, lock the live items in uuid order (no deadlocks between concurrent bulk
   writes), then validate every value: any error refuses the whole request and nothing is written.
2. Apply the change in SQL on the locked rows: a merge is ``loupe_jsonb_merge_patch(client_metadata,
   patch)`` (plain ``||`` when the patch holds no null and no nested object: the same result, without
   the plpgsql loop), so two concurrent merges on one item both land (the seed's read-copy-update
   pattern in application code loses one of them).
3. Record one history row per item. The same statement inserts the history rows of every item with
   nothing derived to rebuild (no vectors, key frames untouched: nearly all writes) straight from
   ``RETURNING old.*, new.*``, so their documents never make a round trip through Python. The
   others ("derived" rows) come back to Python, which rebuilds their key frames and embedding rows
   and records them with the vectors joined back in.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import NamedTuple

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.http import Http404

from apps.core.errors import ServiceValidationError
from apps.core.foreign_keys import foreign_key_checks_skipped, rows_locked_for_key_share
from apps.metadata.models import Embedding
from apps.metadata.records import MetadataChange, MetadataChangeAction
from apps.metadata.selectors import schema_for
from apps.metadata.services import derived
from apps.metadata.validation import metadata_size_bound, validate_metadata
from apps.storage.models import Folder, FolderRole, Item
from apps.storage.permissions import folder_require

BULK_MAX_ITEMS = 1000  # per request; larger sets go through a metadata job
# Python's compact, ASCII-escaped JSON of a document is at most this many times PostgreSQL's text of
# it (a DEL or a non-ASCII character becomes a 6-byte \u escape); larger documents get the exact
# size check in Python.
_ESCAPED_SIZE_FACTOR = 6


@dataclass(frozen=True)
class MetadataWrite:
    """One item's new metadata (``merge=False``) or merge patch (``merge=True``)."""

    item_id: uuid.UUID
    metadata: dict
    merge: bool = False


def _without_nulls(patch):
    """A merge patch minus its deletions, for validating the values it sets."""
    if not isinstance(patch, dict):
        return patch
    return {key: _without_nulls(value) for key, value in patch.items() if value is not None}


class _ItemRef(NamedTuple):
    """What a write needs of an item: a tuple, not a model instance (1,000 of them per request)."""

    pk: uuid.UUID
    organisation_id: uuid.UUID
    folder_id: uuid.UUID
    fps: float | None
    ctid: str  # where the locked row is: stable until this transaction updates it


# Locks in uuid order, so two bulk writes over the same items wait for each other instead of deadlocking.
# Answers one row per folder, with the positions (in ``ids``), fps and ctids of its items: a few rows
# of arrays load much faster than three uuids per item, and the write finds each locked row by its
# ctid (a locked row cannot move) instead of probing the uuid index again.
_ITEMS_LOCK_SQL = f"""
WITH locked AS MATERIALIZED (
    SELECT i.uuid, i.organisation_id, i.folder_id, i.fps, i.ctid FROM {Item._meta.db_table} i
     WHERE i.uuid = ANY(%(ids)s) AND i.deleted_at IS NULL
       AND EXISTS (SELECT 1 FROM {Folder._meta.db_table} f WHERE f.uuid = i.folder_id AND f.deleted_at IS NULL)
     ORDER BY i.uuid FOR UPDATE OF i
)
SELECT l.folder_id, l.organisation_id, array_agg(w.n), array_agg(l.fps), array_agg(l.ctid::text)
  FROM locked l JOIN unnest(%(ids)s::uuid[]) WITH ORDINALITY AS w(uuid, n) USING (uuid)
 GROUP BY l.folder_id, l.organisation_id
"""


def _items_for_write(*, user, item_ids: list) -> dict:
    """The live items, locked until the transaction ends; refuses items the user cannot edit."""
    with _array_cursor() as cursor:
        cursor.execute(_ITEMS_LOCK_SQL, {"ids": item_ids}, binary=True)
        groups = cursor.fetchall()
    items = {item_ids[n - 1]: _ItemRef(item_ids[n - 1], organisation_id, folder_id, fps, ctid)
             for folder_id, organisation_id, positions, fps_list, ctids in groups
             for n, fps, ctid in zip(positions, fps_list, ctids, strict=True)}
    # A role depends on the folder's organisation and root only: one check per tree, not per folder.
    trees: dict[tuple, list] = {}
    for folder in Folder.objects.filter(pk__in=[group[0] for group in groups]).only(
            "uuid", "organisation_id", "root_id"):
        trees.setdefault((folder.organisation_id, folder.root_id), []).append(folder)
    for folders in trees.values():
        try:
            folder_require(user=user, folder=folders[0], role=FolderRole.EDITOR)
        except Http404:
            hidden = {folder.pk for folder in folders}
            items = {pk: i for pk, i in items.items() if i.folder_id not in hidden}
    missing = [str(pk) for pk in item_ids if pk not in items]
    if missing:
        raise ServiceValidationError({"items": [f"No such item: {pk}" for pk in missing[:20]]})
    return items


def _validate(writes: list[MetadataWrite], items: dict) -> tuple[dict, dict]:
    """Validate every write against its organisation's schema; return normalised payloads by item."""
    schemas, payloads, errors = {}, {}, []
    max_bytes = settings.LOUPE_METADATA_MAX_BYTES
    # One size bound for the whole batch: when it fits, no single object can be over the limit.
    if metadata_size_bound([write.metadata for write in writes]) <= max_bytes:
        max_bytes = None
    for write in writes:
        item = items[write.item_id]
        schema = schemas.get(item.organisation_id)
        if schema is None:  # one schema query per organisation, not per item
            schema = schemas[item.organisation_id] = schema_for(organisation_id=item.organisation_id)
        if not isinstance(write.metadata, dict):
            errors.append(f"item {write.item_id}: metadata must be a JSON object")
            continue
        nulls = write.merge and not _flat(write.metadata)  # a flat patch has no null to set aside
        values = _without_nulls(write.metadata) if nulls else write.metadata
        normalised, problems = validate_metadata(values, schema, max_bytes=max_bytes)
        errors += [f"item {write.item_id}: {problem.message}" for problem in problems]
        payloads[write.item_id] = _restore_nulls(write.metadata, normalised) if nulls else normalised
    if errors:
        raise ServiceValidationError({"metadata": errors})
    return payloads, schemas


def _restore_nulls(patch: dict, normalised: dict) -> dict:
    merged = dict(normalised)
    for key, value in patch.items():
        if value is None:
            merged[key] = None
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _restore_nulls(value, merged[key])
    return merged


class RecordedChange(NamedTuple):
    """The history row one write recorded, as a bulk response reports it (no documents)."""

    item_id: uuid.UUID
    pk: int
    action: str
    keys: list[str]


def items_metadata_write(
    *, user, writes: list[MetadataWrite], action: str | None = None, reverts: MetadataChange | None = None,
    max_items: int = BULK_MAX_ITEMS,
) -> list[MetadataChange]:
    """Apply replace/merge writes to up to ``max_items`` items atomically; return their history rows.

    The history rows come back in the order of ``writes``; ``at``, ``before`` and ``after`` are
    loaded from the database when first read. Bulk callers that only report what they wrote use
    ``items_metadata_bulk_write``, which is the same write without the model instances.
    """
    recorded = items_metadata_bulk_write(user=user, writes=writes, action=action, reverts=reverts,
                                         max_items=max_items)
    user_id, reverts_id = getattr(user, "pk", None), reverts.pk if reverts is not None else None
    return [MetadataChange.from_db(connection.alias, _CHANGE_FIELDS,
                                   (change.pk, change.item_id, user_id, change.action, change.keys, reverts_id))
            for change in recorded]


def items_metadata_bulk_write(
    *, user, writes: list[MetadataWrite], action: str | None = None, reverts: MetadataChange | None = None,
    max_items: int = BULK_MAX_ITEMS,
) -> list[RecordedChange]:
    """``items_metadata_write`` for bulk callers: the history rows as ``RecordedChange`` tuples, in the
    order of ``writes`` (1,000 model instances cost more than the SQL that records them)."""
    if len(writes) > max_items:
        raise ServiceValidationError(
            {"items": f"At most {max_items:,} items per request; send larger sets as a metadata job."}
        )
    if len({w.item_id for w in writes}) != len(writes):
        raise ServiceValidationError({"items": "An item appears twice in one request."})
    with transaction.atomic():
        items = _items_for_write(user=user, item_ids=[w.item_id for w in writes])
        payloads, schemas = _validate(writes, items)
        return _apply(user=user, writes=writes, items=items, payloads=payloads, schemas=schemas,
                      action=action, reverts=reverts)


# One statement updates every item and records the history of the items with nothing derived to
# rebuild. An item is "derived" (comes back to Python) when it has or gets vectors, when its key
# frames ($encord, keyframes) change, when its metadata is not an object, or when it may be over the
# size limit. Embeddings of a locked item change only under its lock, and this statement starts
# after the lock was taken, so its EXISTS sees them all.
_WRITE_SQL = f"""
WITH w AS (SELECT * FROM jsonb_to_recordset(%(writes)s::jsonb)
                      AS r(n int, uuid uuid, ctid tid, doc jsonb, merge boolean, flat boolean, vectors boolean)),
upd AS (
    UPDATE {Item._meta.db_table} i
       SET client_metadata = CASE
               WHEN NOT w.merge THEN w.doc
               WHEN w.flat AND jsonb_typeof(i.client_metadata) = 'object' THEN i.client_metadata || w.doc
               ELSE loupe_jsonb_merge_patch(i.client_metadata, w.doc) END,
           updated_at = now()
      FROM w
     WHERE i.ctid = w.ctid AND i.uuid = w.uuid
 RETURNING w.n, i.uuid, w.doc, w.merge, w.vectors, old.client_metadata AS before, new.client_metadata AS after
),
classified AS (
    SELECT u.*, COALESCE(u.vectors
                 OR jsonb_typeof(u.before) IS DISTINCT FROM 'object' OR jsonb_typeof(u.after) IS DISTINCT FROM 'object'
                 OR (u.before -> '$encord')::text IS DISTINCT FROM (u.after -> '$encord')::text
                 OR (u.before -> 'keyframes')::text IS DISTINCT FROM (u.after -> 'keyframes')::text
                 OR octet_length(u.after::text) * {_ESCAPED_SIZE_FACTOR} > %(max_bytes)s::bigint
                 OR EXISTS (SELECT 1 FROM {Embedding._meta.db_table} e WHERE e.item_id = u.uuid), true) AS derived
      FROM upd u
),
history AS (
    INSERT INTO {MetadataChange._meta.db_table} (item_id, user_id, action, keys, before, after, reverts_id, at)
    SELECT s.uuid, %(user_id)s::bigint,
           COALESCE(%(action)s::text, CASE WHEN s.merge THEN 'merge' ELSE 'replace' END),
           -- the top-level keys whose value changed (a merge changes only keys of its patch)
           ARRAY(SELECT k FROM jsonb_object_keys(CASE WHEN s.merge THEN s.doc ELSE s.before || s.after END) k
                  WHERE s.before -> k IS DISTINCT FROM s.after -> k ORDER BY k COLLATE "C"),
           s.before, s.after, %(reverts_id)s::bigint, now()
      FROM classified s
     WHERE NOT s.derived
     ORDER BY s.n  -- history ids in the order of the writes
 RETURNING item_id, id, keys
)
-- Two lists, not a join of them: a join's plan follows row estimates (a nested loop over 5,000 x 5,000
-- rows once took 2 s); item ids map back to write positions in Python.
SELECT item_id, id, keys, NULL::jsonb, NULL::jsonb FROM history
UNION ALL
SELECT uuid, NULL, NULL, before, after FROM classified WHERE derived
"""
_CHANGE_FIELDS = ("id", "item_id", "user_id", "action", "keys", "reverts_id")  # at, before, after: deferred


def _write_row(n: int, write: MetadataWrite, item: _ItemRef, split: tuple) -> dict:
    stored, vectors, deletions = split
    return {"n": n, "uuid": str(write.item_id), "ctid": item.ctid, "doc": stored, "merge": write.merge,
            "flat": write.merge and _flat(stored), "vectors": bool(vectors or deletions)}


def _flat(patch) -> bool:
    """Whether a merge patch is one level deep without deletions (so ``||`` applies it exactly)."""
    return isinstance(patch, dict) and not any(value is None or isinstance(value, dict) for value in patch.values())


def _apply(*, user, writes, items, payloads, schemas, action, reverts) -> list[RecordedChange]:
    with_vectors = {org for org, schema in schemas.items() if any(s.type == "embedding" for s in schema.keys.values())}
    splits = {}
    for write in writes:
        item = items[write.item_id]
        payload = payloads[write.item_id]
        splits[write.item_id] = (derived.split_vectors(payload, schemas[item.organisation_id], fps=item.fps)
                                 if item.organisation_id in with_vectors else (payload, [], []))
    user_id = getattr(user, "pk", None)
    reverts_id = reverts.pk if reverts is not None else None
    with _array_cursor() as cursor, _history_references_held(cursor, user_id=user_id, reverts_id=reverts_id):
        cursor.execute(_WRITE_SQL, {
            # One JSON document for the whole batch: encoding it is C-fast, unlike per-element array dumping.
            "writes": json.dumps([_write_row(n, write, items[write.item_id], splits[write.item_id])
                                  for n, write in enumerate(writes)]),
            "max_bytes": settings.LOUPE_METADATA_MAX_BYTES, "user_id": user_id, "action": action,
            "reverts_id": reverts_id,
        }, binary=True)  # binary results: ids, flags and key arrays load without text parsing
        rows = cursor.fetchall()
    if len(rows) != len(writes):  # cannot happen while the rows are locked; refuse rather than half-write
        raise RuntimeError(f"{len(writes) - len(rows)} locked items were not found by their ctid")
    position = {write.item_id: n for n, write in enumerate(writes)}
    changes: list = [None] * len(writes)
    stored = {}
    for item_id, change_id, keys, before, after in rows:
        if change_id is None:  # a derived row: written, not yet recorded
            stored[item_id] = (_loaded(before), _loaded(after))
        else:
            write = writes[position[item_id]]
            changes[position[item_id]] = RecordedChange(item_id, change_id, action or _write_action(write), keys)
    if stored:
        derived_writes = [write for write in writes if write.item_id in stored]
        recorded = {change.item_id: change for change in _apply_derived(
            user=user, writes=derived_writes, items=items, splits=splits, stored=stored, schemas=schemas,
            action=action, reverts=reverts)}
        for n, write in enumerate(writes):
            if write.item_id in recorded:
                change = recorded[write.item_id]
                changes[n] = RecordedChange(change.item_id, change.pk, change.action, change.keys)
    return changes


def _history_references_held(cursor, *, user_id, reverts_id):
    """Write history rows without a foreign-key check per row (``apps.core.foreign_keys``).

    Each row points at an item this transaction has locked ``FOR UPDATE``, at the writing user and at
    the reverted change; those two are locked here ``FOR KEY SHARE``. The statement's update of the
    items changes no key, so none of their triggers would fire either.
    """
    from django.contrib.auth import get_user_model

    held = all(
        rows_locked_for_key_share(cursor, table=model._meta.db_table, column=model._meta.pk.column, pks=[pk])
        for model, pk in ((get_user_model(), user_id), (MetadataChange, reverts_id))
    )
    return foreign_key_checks_skipped(cursor, references_held=held)


def _write_action(write: MetadataWrite) -> str:
    return MetadataChangeAction.MERGE if write.merge else MetadataChangeAction.REPLACE


def _apply_derived(*, user, writes, items, splits, stored, schemas, action, reverts) -> list[MetadataChange]:
    """Key frames, embedding rows and history of the items whose derived rows may change."""
    old_vectors = derived.vectors_of(list(stored))
    new_vectors = {}
    for write in writes:
        _, vectors, deletions = splits[write.item_id]
        new_vectors[write.item_id] = _vectors_after(old_vectors.get(write.item_id, []), vectors, deletions,
                                                    merge=write.merge)
    for org_id in schemas:
        rebuild = [(pk, items[pk].fps, stored[pk][1]) for pk in stored
                   if items[pk].organisation_id == org_id and _has_derived(stored[pk], old_vectors, new_vectors, pk)]
        if not rebuild:
            continue
        vectors = {pk: _frames_still_there(new_vectors[pk], stored[pk][1], items[pk].fps) for pk, _, _ in rebuild}
        derived.derived_rebuild(items=rebuild, vectors=vectors, ids=derived.key_ids(org_id))
    changes = []
    for write in writes:
        before_stored, after_stored = stored[write.item_id]
        fps = items[write.item_id].fps
        before = derived.join_vectors(before_stored, old_vectors.get(write.item_id, []), fps=fps)
        after = derived.join_vectors(after_stored, new_vectors[write.item_id], fps=fps)
        _check_size(write.item_id, after)
        changes.append(MetadataChange(
            item_id=write.item_id, user=user, before=before, after=after, keys=_changed_keys(before, after),
            action=action or _write_action(write), reverts=reverts,
        ))
    return _history_insert(changes)


def _array_cursor():
    """A psycopg cursor with server-side parameter binding, for statements that pass 1,000-element
    arrays or documents (Django's cursors bind client-side, quoting every value into the SQL text)."""
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _history_insert(changes: list[MetadataChange]) -> list[MetadataChange]:
    """One INSERT ... SELECT FROM jsonb_to_recordset(...) RETURNING: ~10x cheaper than bulk_create."""
    with _array_cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {MetadataChange._meta.db_table} (item_id, user_id, action, keys, before, after, reverts_id, at)
            SELECT c.item_id, c.user_id, c.action, ARRAY(SELECT jsonb_array_elements_text(c.keys)),
                   c.before, c.after, c.reverts_id, now()
              FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (
                   item_id uuid, user_id bigint, action text, keys jsonb, before jsonb, after jsonb, reverts_id bigint))
                   WITH ORDINALITY AS c(item_id, user_id, action, keys, before, after, reverts_id, n)
             ORDER BY c.n
            RETURNING id, at
            """,
            [json.dumps([{"item_id": str(c.item_id), "user_id": c.user_id, "action": c.action, "keys": c.keys,
                          "before": c.before, "after": c.after, "reverts_id": c.reverts_id} for c in changes])],
        )
        rows = cursor.fetchall()
    for change, (pk, at) in zip(changes, rows, strict=True):
        change.pk, change.at = pk, at
        change._state.adding = False
    return changes


def _has_derived(stored: tuple[dict, dict], old_vectors: dict, new_vectors: dict, pk) -> bool:
    """Whether an item has (or had) key frames or vectors: only those need their rows rebuilt."""
    frame_keys = ("$encord", "keyframes")
    return bool(old_vectors.get(pk) or new_vectors.get(pk)
                or any(key in doc for doc in stored if isinstance(doc, dict) for key in frame_keys))


def _loaded(value):
    return json.loads(value) if isinstance(value, str) else value


def _vectors_after(old: list, written: list, deletions: list, *, merge: bool) -> list:
    if not merge:
        return written
    by_slot = {(v.key, v.frame): v for v in old}
    for deletion in deletions:
        by_slot.pop((deletion.key, deletion.frame), None)
    for vector in written:
        by_slot[(vector.key, vector.frame)] = vector
    return list(by_slot.values())


def _frames_still_there(vectors: list, stored: dict, fps) -> list:
    """Frame vectors whose frame was removed from ``$encord.frames`` go with it."""
    from apps.metadata.frames import key_frames

    frames = key_frames(stored, fps=fps)
    return [v for v in vectors if v.frame is None or v.frame in frames]


def _check_size(item_id, metadata: dict) -> None:
    size = len(json.dumps(metadata, separators=(",", ":")).encode())
    if size > settings.LOUPE_METADATA_MAX_BYTES:
        raise ServiceValidationError({"metadata": [
            f"item {item_id}: the merged metadata would be {size:,} bytes, more than the limit of "
            f"{settings.LOUPE_METADATA_MAX_BYTES:,} bytes (LOUPE_METADATA_MAX_BYTES)"]})


def _changed_keys(before: dict, after: dict) -> list[str]:
    return sorted(key for key in set(before) | set(after) if before.get(key, ...) != after.get(key, ...))


# --------------------------------------------------------------------------- one item


def item_metadata_replace(*, user, item: Item, metadata: dict) -> MetadataChange:
    """Make the item's metadata exactly ``metadata`` (what the Encord SDK's ``item.update`` does)."""
    return items_metadata_write(user=user, writes=[MetadataWrite(item.pk, metadata, merge=False)])[0]


def item_metadata_merge(*, user, item: Item, patch: dict) -> MetadataChange:
    """Apply a JSON merge-patch (RFC 7386): given keys overwrite, ``null`` removes, others stay."""
    return items_metadata_write(user=user, writes=[MetadataWrite(item.pk, patch, merge=True)])[0]


def metadata_change_revert(*, user, change: MetadataChange) -> MetadataChange:
    """Put the item's metadata back to what it was before ``change`` (recorded as a change itself)."""
    return items_metadata_write(
        user=user, writes=[MetadataWrite(change.item_id, change.before, merge=False)],
        action=MetadataChangeAction.REVERT, reverts=change,
    )[0]


# --------------------------------------------------------------------------- one patch, many items


@dataclass(frozen=True)
class PatchResult:
    """What ``items_metadata_patch`` did: ``written`` items (each with its history row) and the
    ``missing`` ones (trashed, or outside ``folder_ids``), which nothing was written for."""

    written: int
    missing: list


# One statement for the items a set-based write serves exactly: update them and record their history
# from ``RETURNING old.*, new.*``, no document travelling to Python. The UPDATE takes the row locks
# itself, walking the ids in uuid order (the order ``items_metadata_write`` locks in, so concurrent bulk
# writes queue rather than deadlock); a separate ``FOR UPDATE`` pass would write every row twice (it
# cost 2/3 of the time). "Plain" items only: an object, no vectors, small enough that the patched
# document cannot pass the size limit (its bytes plus the patch's, with the escaping margin). The ids
# left over (others, trashed, out of scope) come back and are sorted out in Python.
_PATCH_SQL = f"""
WITH ids AS MATERIALIZED (SELECT DISTINCT u AS uuid FROM unnest(%(ids)s::uuid[]) u ORDER BY 1),
upd AS (
    UPDATE {Item._meta.db_table} i SET client_metadata = {{merged}}, updated_at = now()
      FROM ids
     WHERE i.uuid = ids.uuid AND i.deleted_at IS NULL AND i.folder_id = ANY(%(folders)s::uuid[])
       AND jsonb_typeof(i.client_metadata) = 'object'
       AND (octet_length(i.client_metadata::text) + %(patch_bytes)s) * {_ESCAPED_SIZE_FACTOR} <= %(max_bytes)s
       AND NOT EXISTS (SELECT 1 FROM {Embedding._meta.db_table} e WHERE e.item_id = i.uuid)
 RETURNING i.uuid, old.client_metadata AS before, new.client_metadata AS after
),
history AS (
    INSERT INTO {MetadataChange._meta.db_table} (item_id, user_id, action, keys, before, after, reverts_id, at)
    SELECT u.uuid, %(user_id)s::bigint, 'merge',
           ARRAY(SELECT k FROM jsonb_object_keys(%(patch)s::jsonb) k
                  WHERE u.before -> k IS DISTINCT FROM u.after -> k ORDER BY k COLLATE "C"),
           u.before, u.after, NULL, now()
      FROM upd u ORDER BY u.uuid
 RETURNING item_id
)
SELECT (SELECT count(*) FROM history), ARRAY(SELECT uuid FROM ids EXCEPT SELECT item_id FROM history)
"""
DERIVED_KEYS = ("$encord", "keyframes")  # keys whose change rebuilds an item's key frames
# A patch without nested objects is RFC 7386 as two jsonb operators: drop the removed keys, add the set ones.
_FLAT_MERGE = "(i.client_metadata - %(removed)s::text[]) || %(values)s::jsonb"
_DEEP_MERGE = "loupe_jsonb_merge_patch(i.client_metadata, %(patch)s::jsonb)"


def items_metadata_patch(*, user, item_ids: list, patch: dict, folder_ids: list, schema) -> PatchResult:
    """Merge ``patch`` (valid for the schema: the caller checked it) into every live item of ``item_ids``
    in ``folder_ids`` (folders the caller may edit), recording one history row per item, as
    ``items_metadata_write`` would, in a few statements instead of a document per item.

    For bulk edits of a whole selection. A patch touching key frames (``$encord``, ``keyframes``) or an
    embedding key, and items with vectors, take ``items_metadata_bulk_write`` (their derived rows)."""
    if not isinstance(patch, dict) or not patch:
        raise ValueError("a patch is a non-empty JSON object")
    item_ids = sorted(set(item_ids))
    if any(key in DERIVED_KEYS or (key in schema.keys and schema.keys[key].type == "embedding") for key in patch):
        return _bulk_patch(user, item_ids, patch, folder_ids)
    flat = not any(isinstance(value, dict) for value in patch.values())
    text = json.dumps(patch, separators=(",", ":"))
    with _array_cursor() as cursor, _history_references_held(cursor, user_id=getattr(user, "pk", None),
                                                             reverts_id=None):
        cursor.execute(_PATCH_SQL.replace("{merged}", _FLAT_MERGE if flat else _DEEP_MERGE), {
            "ids": item_ids, "folders": list(folder_ids), "patch": text, "patch_bytes": len(text.encode()),
            "max_bytes": settings.LOUPE_METADATA_MAX_BYTES, "user_id": getattr(user, "pk", None),
            "removed": [key for key, value in patch.items() if value is None],
            "values": json.dumps({key: value for key, value in patch.items() if value is not None}),
        }, binary=True)
        written, rest = cursor.fetchone()
    if not rest:
        return PatchResult(written, [])
    others = _bulk_patch(user, sorted(rest), patch, folder_ids)
    return PatchResult(written + others.written, others.missing)


def _bulk_patch(user, item_ids: list, patch: dict, folder_ids: list) -> PatchResult:
    """The items ``items_metadata_patch`` leaves to the general engine, 1,000 at a time."""
    in_scope = set(Item.objects.filter(pk__in=item_ids, folder_id__in=folder_ids, deleted_at__isnull=True)
                   .values_list("pk", flat=True))
    ids = [pk for pk in item_ids if pk in in_scope]
    for start in range(0, len(ids), BULK_MAX_ITEMS):
        items_metadata_bulk_write(user=user, writes=[MetadataWrite(pk, patch, merge=True)
                                                     for pk in ids[start:start + BULK_MAX_ITEMS]])
    return PatchResult(len(ids), [pk for pk in item_ids if pk not in in_scope])
