"""Changes to an organisation's metadata schema, with the rules of spec/metadata.md enforced.

Only organisation admins change the schema (``PermissionDenied`` otherwise). Every refused change
raises ``ServiceValidationError`` naming the key and the rule. Each function locks the rows it changes
(``SELECT ... FOR UPDATE``), so two admins editing at once cannot interleave half-applied changes.

Every change that can alter which keys are indexed (declare, re-type, delete, restore) tells the apps
above, once it commits, through ``apps.metadata.hooks.key_indexes_changed_on_commit``: the Explorer
then builds or drops the keys' indexes in a task, so the request never waits for an index build.

Item metadata is never rewritten here: a re-type reports the stored values that no longer validate
and keeps them; a soft delete leaves values (and an embedding key's vectors and index) in place; a
hard delete removes an embedding key's vectors and index but keeps its row, so the name stays taken.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction

from apps.core.errors import ServiceValidationError
from apps.core.models import Organisation, User
from apps.metadata.hooks import key_indexes_changed_on_commit
from apps.metadata.models import (
    BUILTIN_TEXT_SIZE, EMBEDDER_INPUTS, EMBEDDER_TIMEOUT_MAX, EMBEDDER_URL_MAX, EmbedderKind, Embedding, KeyState,
    KeyType, MetadataKey,
)
from apps.metadata.selectors import schema_can_edit
from apps.metadata.validation import (
    ENUM_VALUES_MAX, SCALAR_TYPES, VARCHAR_MAX_LENGTH, KeySpec, SchemaBodyError, Tombstone, canonical_type,
    definition_errors, key_name_error, schema_from_sdk, validate_value,
)
from apps.metadata.vector_indexes import embedding_index_drop_sql, embedding_index_sql

RETYPE_EXAMPLES_MAX = 100  # invalid values a re-type report lists (it counts all of them)
RETYPE_SCAN_BATCH = 2000  # item rows fetched per round trip while a re-type report scans metadata


@dataclass(frozen=True)
class RetypeExample:
    """A stored value that does not validate under the new type; ``frame`` is set for a frame's value."""

    item: uuid.UUID
    value: Any
    frame: str | None = None


@dataclass(frozen=True)
class RetypeReport:
    """What a re-type found: ``checked`` stored values under the key, ``invalid`` of them no longer valid."""

    key: str
    old_type: str
    new_type: str
    checked: int
    invalid: int
    examples: tuple[RetypeExample, ...] = ()


@dataclass
class SchemaSaveReport:
    """What ``schema_save`` changed, key names by kind of change."""

    added: list[str] = field(default_factory=list)
    retyped: list[RetypeReport] = field(default_factory=list)
    enum_values_added: dict[str, list[str]] = field(default_factory=dict)
    soft_deleted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    hard_deleted: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- one key at a time


@transaction.atomic
def schema_key_add(
    *, user: User, organisation: Organisation, name: str, type: str, enum_values=(), size: int | None = None,
    max_length: int = VARCHAR_MAX_LENGTH, embedder: EmbedderSpec | None = None,
) -> MetadataKey:
    """Declare a key. An embedding key gets its ANN index in the same transaction, and its embedder
    when one is given (checked as ``schema_key_embedder_set`` does, before anything is written)."""
    _require_admin(user=user, organisation_id=organisation.pk)
    name_error = key_name_error(name)
    if name_error:
        raise ServiceValidationError({"name": name_error})
    spec = _spec(name=name, type_name=type, enum_values=enum_values, size=size, max_length=max_length)
    existing = MetadataKey.objects.filter(organisation=organisation, name=name).first()
    if existing is not None:
        raise ServiceValidationError({"name": _taken_message(existing)})
    fields = {}
    if embedder is not None:
        probe = MetadataKey(name=name, type=spec.type, size=spec.size, state=KeyState.ACTIVE)
        fields = _embedder_fields(probe, embedder)
    key_indexes_changed_on_commit(organisation.pk)
    key = _create(organisation=organisation, spec=spec, state=KeyState.ACTIVE)
    if fields:
        for field_name, value in fields.items():
            setattr(key, field_name, value)
        key.save(update_fields=list(fields))
    return key


@transaction.atomic
def schema_enum_values_add(*, user: User, key: MetadataKey, values) -> MetadataKey:
    """Add values to an active enum key; values it already has are ignored. Values stay sorted."""
    key = _locked(user=user, key=key)
    if key.state != KeyState.ACTIVE:
        raise ServiceValidationError({"enum_values": f'Key "{key.name}" is deleted; restore it first.'})
    if key.type != KeyType.ENUM:
        raise ServiceValidationError({"enum_values": f'Key "{key.name}" is {key.type}, not an enum.'})
    values = list(values)
    if not values:
        raise ServiceValidationError({"enum_values": "Give at least one value to add."})
    if not all(isinstance(v, str) and v != "" for v in values):
        raise ServiceValidationError({"enum_values": "Enum values are non-empty strings."})
    merged = sorted(set(key.enum_values) | set(values))
    if len(merged) > ENUM_VALUES_MAX:
        message = f'Key "{key.name}" would have {len(merged)} values; an enum has at most {ENUM_VALUES_MAX}.'
        raise ServiceValidationError({"enum_values": message})
    key.enum_values = merged
    key.save(update_fields=["enum_values", "updated_at"])
    return key


@dataclass(frozen=True)
class EmbedderSpec:
    """An embedding key's embedder as a caller asks for it; ``schema_key_embedder_set`` checks it."""

    kind: str = EmbedderKind.NONE
    url: str = ""
    inputs: tuple[str, ...] = ()
    timeout: float | None = None


EMBEDDER_TIMEOUT_DEFAULT = 10.0  # seconds, when an HTTP embedder is set without one


@transaction.atomic
def schema_key_embedder_set(*, user: User, key: MetadataKey, embedder: EmbedderSpec) -> MetadataKey:
    """Set (or clear, with kind ``none``) the embedder of an embedding key, active or soft-deleted.

    Rules, each refused with an error keyed by the field: only embedding keys have one (``embedder``);
    the built-in text model makes 384-d vectors, so only 384-d keys take it (``embedder``); an HTTP
    embedder needs an absolute http(s) URL (``embedder_url``), at least one of ``text``/``image``
    (``embedder_inputs``) and a timeout in (0, 120] seconds (``embedder_timeout``). The URL's host is
    not resolved here: the fetch guard vets it on every call, when the address is the one that counts.
    The change is stamped in ``updated_at`` like every other schema change.
    """
    key = _locked(user=user, key=key)
    fields = _embedder_fields(key, embedder)
    for name, value in fields.items():
        setattr(key, name, value)
    key.save(update_fields=[*fields, "updated_at"])
    return key


def _embedder_fields(key: MetadataKey, embedder: EmbedderSpec) -> dict:
    """The column values for ``embedder`` on ``key``; raises field-keyed errors."""
    if key.state == KeyState.TOMBSTONE or key.effective_type != KeyType.EMBEDDING:
        raise ServiceValidationError({"embedder": f'Key "{key.name}" is not an embedding key: only embedding keys '
                                                  "have an embedder."})
    if embedder.kind not in EmbedderKind.values:
        raise ServiceValidationError({"embedder": f'Unknown embedder "{embedder.kind}": choose one of '
                                                  f'{", ".join(EmbedderKind.values)}.'})
    none = {"embedder": embedder.kind, "embedder_url": "", "embedder_inputs": [], "embedder_timeout": None}
    if embedder.kind == EmbedderKind.NONE:
        return none
    if embedder.kind == EmbedderKind.BUILTIN_TEXT:
        if key.size != BUILTIN_TEXT_SIZE:
            raise ServiceValidationError({"embedder": (
                f'Key "{key.name}" holds {key.size}-d vectors; the built-in text model makes {BUILTIN_TEXT_SIZE}-d '
                "vectors, so it can only serve a key of size 384.")})
        return none
    return none | {"embedder_url": _embedder_url(embedder.url), "embedder_inputs": _embedder_inputs(embedder.inputs),
                   "embedder_timeout": _embedder_timeout(embedder.timeout)}


def _embedder_url(url) -> str:
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url.strip():
        raise ServiceValidationError({"embedder_url": "An HTTP embedder needs the URL of its endpoint."})
    url = url.strip()
    if len(url) > EMBEDDER_URL_MAX:
        raise ServiceValidationError({"embedder_url": f"The URL has {len(url)} characters; at most "
                                                      f"{EMBEDDER_URL_MAX}."})
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a malformed port)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(
        ord(c) < 33 or ord(c) == 127 for c in url
    ):
        raise ServiceValidationError({"embedder_url": "The URL must be an absolute http:// or https:// URL "
                                                      "(no spaces or control characters)."})
    return url


def _embedder_inputs(inputs) -> list[str]:
    values = list(inputs) if isinstance(inputs, (list, tuple)) else None
    if not values or not all(isinstance(v, str) and v in EMBEDDER_INPUTS for v in values):
        raise ServiceValidationError({"embedder_inputs": 'Say what the endpoint takes: "text", "image" or both.'})
    return [value for value in EMBEDDER_INPUTS if value in values]


def _embedder_timeout(timeout) -> float:
    if timeout is None:
        return EMBEDDER_TIMEOUT_DEFAULT
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= EMBEDDER_TIMEOUT_MAX:
        raise ServiceValidationError({"embedder_timeout": f"The timeout is a number of seconds above 0 and at most "
                                                          f"{EMBEDDER_TIMEOUT_MAX}."})
    return float(timeout)


BUILTIN_TEXT_KEY = "text"  # the key Loupe declares for the built-in embedding of text and PDF items


def schema_builtin_text_key_ensure(*, organisation: Organisation) -> MetadataKey | None:
    """The organisation's built-in ``text`` key (embedding, 384-d, built-in text embedder), declared
    by Loupe itself the first time a worker needs it, so no user (and no admin check) is involved.

    Returns None when the name is already taken by something else (another type or size, a deleted
    key, or a key whose admin set another embedder): the workers then write no built-in vectors,
    because a sentence search on that key would not compare like with like. Safe under concurrency:
    two workers declaring at once end with one key.
    """
    key = MetadataKey.objects.filter(organisation=organisation, name=BUILTIN_TEXT_KEY).first()
    if key is None:
        spec = KeySpec(name=BUILTIN_TEXT_KEY, type=KeyType.EMBEDDING, size=BUILTIN_TEXT_SIZE)
        try:
            with transaction.atomic():
                key_indexes_changed_on_commit(organisation.pk)
                key = _create(organisation=organisation, spec=spec, state=KeyState.ACTIVE)
                key.embedder = EmbedderKind.BUILTIN_TEXT
                key.save(update_fields=["embedder"])
            return key
        except ServiceValidationError:  # declared by another worker meanwhile
            key = MetadataKey.objects.get(organisation=organisation, name=BUILTIN_TEXT_KEY)
    fits = (key.state == KeyState.ACTIVE and key.type == KeyType.EMBEDDING and key.size == BUILTIN_TEXT_SIZE
            and key.embedder == EmbedderKind.BUILTIN_TEXT)
    return key if fits else None


@transaction.atomic
def schema_key_retype(
    *, user: User, key: MetadataKey, new_type: str, max_length: int | None = None
) -> RetypeReport:
    """Change an active scalar key to another scalar type (or a varchar's maximum length).

    Stored values are kept; the report counts those under the key (items and their frames) that no
    longer validate and lists up to ``RETYPE_EXAMPLES_MAX`` of them.
    """
    key = _locked(user=user, key=key)
    if key.state != KeyState.ACTIVE:
        raise ServiceValidationError({"type": f'Key "{key.name}" is deleted; restore it first.'})
    old = key.definition()
    error = _retype_error(key.name, old.type, canonical_type(new_type) or _unknown_type(new_type))
    if error:
        raise ServiceValidationError({"type": error})
    max_length = VARCHAR_MAX_LENGTH if max_length is None else max_length
    spec = _spec(name=key.name, type_name=new_type, max_length=max_length)
    if old == spec:
        raise ServiceValidationError({"type": f'Key "{key.name}" is already {_describe(old)}.'})
    key_indexes_changed_on_commit(key.organisation_id)
    return _redefine(key, spec)


@transaction.atomic
def schema_key_soft_delete(*, user: User, key: MetadataKey) -> MetadataKey:
    """Hide a key: its values become untyped until it is restored. Embedding vectors and index are kept."""
    key = _locked(user=user, key=key)
    if key.state != KeyState.ACTIVE:
        raise ServiceValidationError({"state": f'Key "{key.name}" is already deleted.'})
    key_indexes_changed_on_commit(key.organisation_id)
    return _soft_delete(key)


@transaction.atomic
def schema_key_restore(*, user: User, key: MetadataKey) -> MetadataKey:
    """Bring a soft-deleted key back with its type, values and size. Hard-deleted keys cannot be restored."""
    key = _locked(user=user, key=key)
    if key.state == KeyState.TOMBSTONE:
        raise ServiceValidationError({"state": f'Key "{key.name}" was hard deleted and cannot be restored.'})
    if key.state == KeyState.ACTIVE:
        raise ServiceValidationError({"state": f'Key "{key.name}" is not deleted.'})
    key_indexes_changed_on_commit(key.organisation_id)
    return _restore(key)


@transaction.atomic
def schema_key_hard_delete(*, user: User, key: MetadataKey) -> MetadataKey:
    """Delete a key for good: it becomes a tombstone (the name stays taken, no restore); an embedding
    key's vectors and index are dropped. Stored item values stay, untyped."""
    key = _locked(user=user, key=key)
    if key.state == KeyState.TOMBSTONE:
        raise ServiceValidationError({"state": f'Key "{key.name}" is already hard deleted.'})
    key_indexes_changed_on_commit(key.organisation_id)
    return _hard_delete(key)


# --------------------------------------------------------------------------- the whole schema


@transaction.atomic
def schema_save(*, user: User, organisation: Organisation, body) -> SchemaSaveReport:
    """Replace the schema with an SDK v2 body (or the legacy flat form), as the SDK's ``save()`` does.

    The body is the whole schema: a key in it is added, re-typed, given enum values, soft-deleted
    (tombstone with ``deleted_ty``), restored or hard-deleted (tombstone without) to match; an active
    key absent from it is soft-deleted (restorable), deleted keys absent from it stay as they are.
    Every rule is checked for every key before anything is written; errors are keyed by key name.
    """
    _require_admin(user=user, organisation_id=organisation.pk)
    try:
        entries = schema_from_sdk(body)
    except SchemaBodyError as exc:
        raise ServiceValidationError({name or "schema": error for name, error in exc.errors.items()}) from exc
    locked = MetadataKey.objects.select_for_update().filter(organisation=organisation)
    current = {key.name: key for key in locked}
    wanted = {entry.name: _wanted_state(entry) for entry in entries}
    errors = {}
    for name, (state, spec) in wanted.items():
        error = _save_error(current.get(name), name, state, spec)
        if error:
            errors[name] = error
    if errors:
        raise ServiceValidationError(errors)

    report = SchemaSaveReport()
    key_indexes_changed_on_commit(organisation.pk)
    for name, (state, spec) in wanted.items():
        _save_apply(organisation, current.get(name), name, state, spec, report)
    for name, key in current.items():
        if name not in wanted and key.state == KeyState.ACTIVE:
            _soft_delete(key)
            report.soft_deleted.append(name)
    return report


def _wanted_state(entry: KeySpec | Tombstone) -> tuple[str, KeySpec | None]:
    if isinstance(entry, Tombstone):
        return (KeyState.DELETED, entry.deleted) if entry.deleted else (KeyState.TOMBSTONE, None)
    return KeyState.ACTIVE, entry


def _save_error(key: MetadataKey | None, name: str, state: str, spec: KeySpec | None) -> str | None:
    """Why this key cannot become (state, spec), or None."""
    if key is None:
        name_error = key_name_error(name)
        return f'Key "{name}": {name_error[0].lower()}{name_error[1:]}' if name_error else None
    if key.state == KeyState.TOMBSTONE:
        if state == KeyState.TOMBSTONE:
            return None
        return f'Key "{name}" was hard deleted; its name stays taken and it cannot be restored.'
    if state == KeyState.TOMBSTONE:
        return None
    return _redefinition_error(key.definition(), spec)


def _save_apply(organisation, key, name, state, spec, report: SchemaSaveReport) -> None:
    if key is None:
        _create(organisation=organisation, spec=spec or KeySpec(name=name, type=""), state=state)
        if state == KeyState.ACTIVE:
            report.added.append(name)
        return
    if key.state == KeyState.TOMBSTONE:
        return
    if state == KeyState.TOMBSTONE:
        _hard_delete(key)
        report.hard_deleted.append(name)
        return
    old = key.definition()
    if old.type == "enum" and set(spec.enum_values) - set(old.enum_values):
        report.enum_values_added[name] = sorted(set(spec.enum_values) - set(old.enum_values))
        key.enum_values = list(spec.enum_values)
        key.save(update_fields=["enum_values", "updated_at"])
    elif old != spec:
        report.retyped.append(_redefine(key, spec))
    if key.state == KeyState.ACTIVE and state == KeyState.DELETED:
        _soft_delete(key)
        report.soft_deleted.append(name)
    elif key.state == KeyState.DELETED and state == KeyState.ACTIVE:
        _restore(key)
        report.restored.append(name)


# --------------------------------------------------------------------------- rules and writes


def _require_admin(*, user, organisation_id) -> None:
    if not schema_can_edit(user=user, organisation_id=organisation_id):
        raise PermissionDenied("Only organisation admins can change the metadata schema.")


def _locked(*, user, key: MetadataKey) -> MetadataKey:
    """The key's current row, locked for this transaction, once ``user`` is known to be an admin."""
    _require_admin(user=user, organisation_id=key.organisation_id)
    return MetadataKey.objects.select_for_update().get(pk=key.pk)


def _spec(*, name: str, type_name: str, enum_values=(), size=None, max_length=VARCHAR_MAX_LENGTH) -> KeySpec:
    """A checked definition; raises field-keyed errors (``type``, ``enum_values``, ``size``, ``max_length``)."""
    canonical = canonical_type(type_name) or _unknown_type(type_name)
    values = list(enum_values or ())
    if not all(isinstance(v, str) for v in values):
        raise ServiceValidationError({"enum_values": "Enum values are non-empty strings."})
    values = tuple(sorted(set(values)))
    spec = KeySpec(name=name, type=canonical, enum_values=values, size=size, max_length=max_length)
    errors = definition_errors(spec)
    if errors:
        raise ServiceValidationError(errors)
    return spec


def _unknown_type(type_name):
    message = f'Unknown type "{type_name}": choose one of {", ".join(KeyType.values)}.'
    raise ServiceValidationError({"type": message})


def _taken_message(key: MetadataKey) -> str:
    if key.state == KeyState.ACTIVE:
        return f'Key "{key.name}" already exists.'
    if key.state == KeyState.DELETED:
        return f'Key "{key.name}" exists and is deleted; restore it instead.'
    return f'Key "{key.name}" was hard deleted; its name stays taken.'


def _describe(spec: KeySpec) -> str:
    if spec.type == "varchar" and spec.max_length != VARCHAR_MAX_LENGTH:
        return f"varchar of at most {spec.max_length} characters"
    return spec.type


def _redefinition_error(old: KeySpec, new: KeySpec) -> str | None:
    """The schema-change rule that forbids turning definition ``old`` into ``new``, or None."""
    name = old.name
    if old.type == new.type == "enum":
        missing = sorted(set(old.enum_values) - set(new.enum_values))
        if missing:
            listed = ", ".join(json.dumps(v, ensure_ascii=False) for v in missing)
            return f'Key "{name}": enum values cannot be removed (missing: {listed}).'
        return None
    if old.type == new.type == "embedding":
        if old.size != new.size:
            return f"Key \"{name}\": an embedding's size cannot change ({old.size} → {new.size})."
        return None
    if old.type == new.type:
        return None
    return _retype_error(name, old.type, new.type)


def _retype_error(name: str, old_type: str, new_type: str) -> str | None:
    """Scalar keys change to scalar types only; enum, embedding and geospatial keys keep their type."""
    if old_type in ("enum", "embedding"):
        return f'Key "{name}" is an {old_type} key: enum and embedding keys cannot be re-typed.'
    if old_type not in SCALAR_TYPES:
        return f'Key "{name}" is a {old_type} key: only scalar keys ({", ".join(SCALAR_TYPES)}) can be re-typed.'
    if new_type not in SCALAR_TYPES:
        return (
            f'Key "{name}" cannot become {new_type}: a scalar key can only change to another scalar type '
            f'({", ".join(SCALAR_TYPES)}).'
        )
    return None


def _create(*, organisation: Organisation, spec: KeySpec, state: str) -> MetadataKey:
    """Insert a key row (and an embedding key's index); a name taken meanwhile is a field error."""
    is_tombstone = state == KeyState.TOMBSTONE
    key = MetadataKey(
        organisation=organisation, name=spec.name, state=state,
        type=spec.type if state == KeyState.ACTIVE else "",
        deleted_type=spec.type if state == KeyState.DELETED else "",
        enum_values=[] if is_tombstone else list(spec.enum_values),
        size=None if is_tombstone else spec.size,
        max_length=VARCHAR_MAX_LENGTH if is_tombstone else spec.max_length,
    )
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError as exc:
        if "unique_metadata_key_name" in str(exc):
            raise ServiceValidationError({"name": f'Key "{spec.name}" already exists.'}) from exc
        raise
    if key.effective_type == KeyType.EMBEDDING:
        _embedding_table_ddl(embedding_index_sql(key))
    return key


def _embedding_table_ddl(sql: str) -> None:
    """Run index DDL on the embeddings table inside the caller's transaction.

    PostgreSQL refuses DDL on a table with pending deferred-constraint checks (vectors written earlier
    in the same transaction), so those checks run first, as Django's ``check_constraints`` does.
    """
    connection.check_constraints()
    with connection.cursor() as cursor:
        cursor.execute(sql)


def _redefine(key: MetadataKey, spec: KeySpec) -> RetypeReport:
    """Write a scalar key's new type (and length) and report the stored values it makes invalid."""
    old_type = key.effective_type
    if key.state == KeyState.ACTIVE:
        key.type = spec.type
    else:
        key.deleted_type = spec.type
    key.max_length = spec.max_length
    key.save(update_fields=["type", "deleted_type", "max_length", "updated_at"])
    return _retype_report(key=key, old_type=old_type, spec=spec)


def _soft_delete(key: MetadataKey) -> MetadataKey:
    key.deleted_type, key.type, key.state = key.type, "", KeyState.DELETED
    key.save(update_fields=["type", "deleted_type", "state", "updated_at"])
    return key


def _restore(key: MetadataKey) -> MetadataKey:
    key.type, key.deleted_type, key.state = key.deleted_type, "", KeyState.ACTIVE
    key.save(update_fields=["type", "deleted_type", "state", "updated_at"])
    return key


def _hard_delete(key: MetadataKey) -> MetadataKey:
    if key.effective_type == KeyType.EMBEDDING:
        _embedding_table_ddl(embedding_index_drop_sql(key))
        Embedding.objects.filter(key=key).delete()
    key.state, key.type, key.deleted_type = KeyState.TOMBSTONE, "", ""
    key.enum_values, key.size, key.max_length = [], None, VARCHAR_MAX_LENGTH
    key.embedder, key.embedder_url, key.embedder_inputs, key.embedder_timeout = EmbedderKind.NONE, "", [], None
    key.save()
    return key


def _retype_report(*, key: MetadataKey, old_type: str, spec: KeySpec) -> RetypeReport:
    """Scan the organisation's item metadata (and frames) for values under the key; count the invalid ones.

    Streams rows through a server-side cursor in ``RETYPE_SCAN_BATCH`` batches. Items in the trash are
    included: they can be restored with their metadata.
    """
    sql = (
        "SELECT uuid, client_metadata ? %s, client_metadata -> %s, client_metadata #> '{$encord,frames}' "
        "FROM storage_item WHERE organisation_id = %s "
        "AND (client_metadata ? %s OR jsonb_typeof(client_metadata #> '{$encord,frames}') = 'object')"
    )
    checked = invalid = 0
    examples: list[RetypeExample] = []

    def check(item, value, frame=None):
        nonlocal checked, invalid
        checked += 1
        if validate_value(spec, value)[1] is not None:
            invalid += 1
            if len(examples) < RETYPE_EXAMPLES_MAX:
                examples.append(RetypeExample(item=item, value=value, frame=frame))

    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [key.name, key.name, key.organisation_id, key.name])
        while rows := cursor.fetchmany(RETYPE_SCAN_BATCH):
            for item, has_key, value, frames in rows:
                if has_key:
                    check(item, _json(value))
                frames = _json(frames)
                if isinstance(frames, dict):
                    for frame, frame_metadata in frames.items():
                        if isinstance(frame_metadata, dict) and key.name in frame_metadata:
                            check(item, frame_metadata[key.name], frame)
    return RetypeReport(key=key.name, old_type=old_type, new_type=spec.type, checked=checked, invalid=invalid,
                        examples=tuple(examples))


def _json(value):
    """jsonb from a raw cursor: Django's psycopg setup hands it over as text."""
    return json.loads(value) if isinstance(value, str) else value
