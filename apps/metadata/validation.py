"""Metadata rules as pure Python: key names, typed values, ``$encord`` frames and the SDK schema body.

No database here, so every writer (the REST API, the Encord layer, imports, the UI) and every reader
(the filter compiler, the embedding writer) applies exactly the same rules. The rules are those of
``spec/metadata.md``; the SDK body is the ``Schema body (v2)`` of ``spec/encord-compat.md``.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from apps.metadata import encord_rules
from apps.metadata.encord_rules import ENCORD_KEY, KEYFRAME_MODES, LEGACY_KEYFRAMES_KEY  # noqa: F401 (re-exported)

TYPES = ("boolean", "number", "datetime", "uuid", "varchar", "text", "enum", "embedding", "geospatial")
ALIASES = {"string": "varchar", "long_string": "text"}
# The types the SDK calls scalars ("variant" hints). Only these can be re-typed, and only into each other.
SCALAR_TYPES = ("boolean", "number", "datetime", "uuid", "varchar", "text")

KEY_NAME_MAX = 255
KEY_NAME_SEPARATORS = ("-", "_", ".", " ")
RESERVED_KEY_NAMES = ("keyframes",)  # compared after removing the separators, case-sensitively as the SDK does
VARCHAR_MAX_LENGTH = 8192
ENUM_VALUES_MAX = 255
EMBEDDING_SIZE_MAX = 4096
METADATA_MAX_BYTES = 1024 * 1024
ENUM_VALUES_LISTED_MAX = 10  # an error message lists an enum's values up to this many


@dataclass(frozen=True)
class KeySpec:
    """One declared key. ``enum_values`` is sorted; ``size`` is set for embeddings only."""

    name: str
    type: str
    enum_values: tuple[str, ...] = ()
    size: int | None = None
    max_length: int = VARCHAR_MAX_LENGTH


@dataclass(frozen=True)
class Tombstone:
    """A deleted key in an SDK body: ``deleted`` is its definition if soft-deleted, None if hard-deleted."""

    name: str
    deleted: KeySpec | None = None


@dataclass(frozen=True)
class Schema:
    """The active keys of one organisation. Keys that are absent (deleted or never declared) are untyped."""

    keys: Mapping[str, KeySpec] = field(default_factory=dict)

    @classmethod
    def of(cls, specs: Iterable[KeySpec]) -> Schema:
        return cls(keys={spec.name: spec for spec in specs})

    def spec(self, name: str) -> KeySpec | None:
        return self.keys.get(name)


@dataclass(frozen=True)
class MetadataError:
    """One refused value. ``key`` is a path for frames (``$encord.frames.120.clip``); "" is the whole object.

    ``path`` is the same place as tokens (``("$encord", "frames", "120", "clip")``): exact where a key
    name holds a ``.``; ``pointer`` is its JSON pointer relative to the metadata object.
    """

    key: str
    expected: str
    value: Any
    message: str
    path: tuple[str, ...] = field(default=(), compare=False)

    @property
    def pointer(self) -> str:
        return encord_rules.json_pointer(self.path)


class SchemaBodyError(ValueError):
    """A malformed SDK schema body; ``errors`` maps each offending key name to its message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


# --------------------------------------------------------------------------- key names


def key_name_error(name: str) -> str | None:
    """Why ``name`` cannot be a metadata key, or None: the SDK's ``_is_valid_metadata_key`` rules, plus
    a length cap (the column's)."""
    if not isinstance(name, str):
        return "A key name must be a string."
    return _str_key_name_error(name)


@functools.lru_cache(maxsize=4096)  # a bulk write checks the same few names on every item
def _str_key_name_error(name: str) -> str | None:
    if name == "":
        return "A key name cannot be empty."
    if len(name) > KEY_NAME_MAX:
        return f"A key name has at most {KEY_NAME_MAX} characters."
    if name.startswith("$"):
        return 'A key name cannot start with "$".'
    core = name
    for separator in KEY_NAME_SEPARATORS:
        core = core.replace(separator, "")
    if core == "":
        return "A key name needs at least one letter or digit."
    if not core.isalnum():
        return 'A key name may hold only letters, digits, "-", "_", "." and spaces.'
    if core in RESERVED_KEY_NAMES:
        return f'"{name}" is reserved for key frames.'
    return None


def canonical_type(type_name: str) -> str | None:
    """The canonical type for a type name or alias (``string`` → ``varchar``), or None when unknown."""
    if not isinstance(type_name, str):
        return None
    type_name = ALIASES.get(type_name, type_name)
    return type_name if type_name in TYPES else None


def _int_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def definition_errors(spec: KeySpec) -> dict[str, str]:
    """What is wrong with a key's definition (its type and parameters), by field; empty when it is fine.

    Fields: ``type``, ``enum_values``, ``size``, ``max_length``. The name is checked by ``key_name_error``.
    """
    if spec.type not in TYPES:
        return {"type": f'Unknown type "{spec.type}": choose one of {", ".join(TYPES)}.'}
    errors = {}
    if spec.type == "enum":
        if not 1 <= len(spec.enum_values) <= ENUM_VALUES_MAX:
            errors["enum_values"] = f"An enum has 1 to {ENUM_VALUES_MAX} values; {len(spec.enum_values)} given."
        elif not all(isinstance(v, str) and v != "" for v in spec.enum_values):
            errors["enum_values"] = "Enum values are non-empty strings."
    elif spec.enum_values:
        errors["enum_values"] = "Only enum keys have values."
    if spec.type == "embedding":
        if not _int_between(spec.size, 1, EMBEDDING_SIZE_MAX):
            errors["size"] = f"An embedding's size is an integer from 1 to {EMBEDDING_SIZE_MAX}."
    elif spec.size is not None:
        errors["size"] = "Only embedding keys have a size."
    if spec.type == "varchar":
        if not _int_between(spec.max_length, 1, VARCHAR_MAX_LENGTH):
            errors["max_length"] = f"A varchar's maximum length is an integer from 1 to {VARCHAR_MAX_LENGTH}."
    elif spec.max_length != VARCHAR_MAX_LENGTH:
        errors["max_length"] = "Only varchar keys have a maximum length."
    return errors


# --------------------------------------------------------------------------- values


_render = encord_rules.render
_finite_number = encord_rules.finite_number


def _check_boolean(spec: KeySpec, value: Any):
    return (value, None) if isinstance(value, bool) else (None, ("boolean", _render(value)))


def _check_number(spec: KeySpec, value: Any):
    return (value, None) if _finite_number(value) else (None, ("number", _render(value)))


def _check_datetime(spec: KeySpec, value: Any):
    if not isinstance(value, str):
        return None, ("datetime (ISO 8601)", _render(value))
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).isoformat(), None
    except (ValueError, OverflowError):
        return None, ("datetime (ISO 8601)", _render(value))


def _check_uuid(spec: KeySpec, value: Any):
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value)), None
        except ValueError:
            pass
    return None, ("uuid", _render(value))


def _check_varchar(spec: KeySpec, value: Any):
    if not isinstance(value, str):
        return None, ("varchar", _render(value))
    if len(value) > spec.max_length:
        expected = f"varchar of at most {spec.max_length} characters"
        return None, (expected, f"a string of {len(value)} characters")
    return value, None


def _check_text(spec: KeySpec, value: Any):
    return (value, None) if isinstance(value, str) else (None, ("text", _render(value)))


def _check_enum(spec: KeySpec, value: Any):
    if isinstance(value, str) and value in spec.enum_values:
        return value, None
    if len(spec.enum_values) <= ENUM_VALUES_LISTED_MAX:
        expected = "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in spec.enum_values)
    else:
        expected = f"one of the {len(spec.enum_values)} enum values"
    return None, (expected, _render(value))


_VECTOR_ELEMENT_TYPES = frozenset({int, float})
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # pgvector stores float4: larger values would be infinite


def _check_embedding(spec: KeySpec, value: Any):
    expected = f"embedding of {spec.size} numbers"
    if not isinstance(value, list | tuple):
        return None, (expected, _render(value))
    if len(value) != spec.size:
        return None, (expected, f"a list of {len(value)} values")
    # Fast path, in C: embeddings are thousands of numbers per item and imports check millions.
    types = set(map(type, value))
    if types <= _VECTOR_ELEMENT_TYPES:  # bool is its own type, so it never passes
        try:
            array = np.asarray(value, dtype=np.float64)
        except OverflowError:
            array = None
        if array is not None and np.isfinite(array).all() and np.abs(array).max() <= _FLOAT32_MAX:
            # A list of floats is already what the caller gets: copying it is ~10x cheaper than tolist()
            return (list(value) if int not in types else array.tolist()), None
    for index, number in enumerate(value):
        if not _finite_number(number) or abs(float(number)) > _FLOAT32_MAX:
            return None, (expected, f"{_render(number)} at index {index}")
    return [float(number) for number in value], None  # pragma: no cover - the fast path took it


def _check_geospatial(spec: KeySpec, value: Any):
    if (
        isinstance(value, dict) and value.keys() == {"latitude", "longitude"}
        and _finite_number(value["latitude"]) and -90 <= value["latitude"] <= 90
        and _finite_number(value["longitude"]) and -180 <= value["longitude"] <= 180
    ):
        return {"latitude": value["latitude"], "longitude": value["longitude"]}, None
    return None, ('geospatial {"latitude": -90..90, "longitude": -180..180}', _render(value))


_CHECKS = {
    "boolean": _check_boolean, "number": _check_number, "datetime": _check_datetime, "uuid": _check_uuid,
    "varchar": _check_varchar, "text": _check_text, "enum": _check_enum, "embedding": _check_embedding,
    "geospatial": _check_geospatial,
}


def _check(spec: KeySpec, value: Any) -> tuple[Any, tuple[str, str] | None]:
    """(normalised value, None) or (None, (what was expected, what was given)) for messages."""
    return _CHECKS[spec.type](spec, value)


def validate_value(spec: KeySpec, value: Any) -> tuple[Any, str | None]:
    """Check one value against its key: (normalised value, None) or (None, message naming the key).

    Normalised: datetimes become ISO 8601 in UTC with an explicit offset, UUIDs canonical lowercase,
    embeddings lists of floats, geospatial values exactly ``{"latitude", "longitude"}``; others unchanged.
    """
    normalised, problem = _check(spec, value)
    if problem is None:
        return normalised, None
    return None, _message(spec.name, *problem)


def _clause(sentence: str) -> str:
    """A standalone sentence ("A key name cannot be empty.") as a clause after 'key "x": '."""
    return sentence[0].lower() + sentence[1:].rstrip(".") if sentence[:1].isupper() else sentence.rstrip(".")


_message = encord_rules.key_message


# --------------------------------------------------------------------------- metadata objects


def validate_metadata(
    metadata: dict, schema: Schema, *, max_bytes: int | None = METADATA_MAX_BYTES
) -> tuple[dict, list[MetadataError]]:
    """Validate one metadata object (an item's, a folder's or a frame's) against ``schema``.

    Returns the normalised object (a new dict; declared values normalised, undeclared ones as given)
    and every error found. ``$encord`` is the only ``$`` key allowed; its frames' metadata objects are
    validated with the same schema (error keys like ``$encord.frames.120.clip``). The legacy
    ``keyframes`` list passes through. An object over ``max_bytes`` of JSON gives one error and is not
    examined further (``None``: the caller has bounded the size already, see ``metadata_size_bound``).
    A caller must refuse the write when the error list is not empty.
    """
    if not isinstance(metadata, dict):
        message = f"metadata: expected a JSON object, got {_render(metadata)}"
        return metadata, [MetadataError("", "object", metadata, message)]
    size = _json_size(metadata) if max_bytes is not None and _json_size_bound(metadata) > max_bytes else 0
    if max_bytes is not None and size > max_bytes:
        return metadata, [MetadataError(
            "", f"at most {max_bytes} bytes", size,
            f"metadata: {size} bytes of JSON, more than the limit of {max_bytes} bytes",
        )]
    errors: list[MetadataError] = []
    return _validate_object(metadata, schema, prefix=(), top_level=True, errors=errors), errors


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr).encode())


_NUMBER_LIST_MIN = 32  # shorter lists are just encoded
_NUMBER_JSON_MAX = 24  # bytes: the longest JSON a float can take (-1.2345678901234567e-308)


def metadata_size_bound(objects: list) -> int:
    """An upper bound of the JSON size of each of ``objects``, in one pass over all of them.

    A bulk writer checks this once: when it is within the limit, no single object can be over it
    and ``validate_metadata`` may skip its own check (``max_bytes=None``).
    """
    flat, nested = [], []  # one-level objects are encoded in one C call; others may hold embeddings
    for obj in objects:
        is_flat = isinstance(obj, dict) and not any(isinstance(value, dict | list) for value in obj.values())
        (flat if is_flat else nested).append(obj)
    return _json_size(flat) + _json_size_bound(nested)


def _json_size_bound(value: Any) -> int:
    """An upper bound of the JSON size that costs little for embedding-heavy objects.

    Long lists of plain numbers (embeddings) count 25 bytes per number instead of being encoded;
    the rest is encoded once. The exact size is computed only when the bound is over the limit.
    """
    stripped, extra = _without_number_lists(value)
    return _json_size(stripped) + extra


def _without_number_lists(value: Any) -> tuple[Any, int]:
    if isinstance(value, dict):
        out, extra = {}, 0
        for key, item in value.items():
            out[key], more = _without_number_lists(item)
            extra += more
        return out, extra
    if isinstance(value, list):
        if len(value) >= _NUMBER_LIST_MIN and set(map(type, value)) <= _VECTOR_ELEMENT_TYPES:
            return [], len(value) * (_NUMBER_JSON_MAX + 1)
        if any(isinstance(item, dict | list) for item in value):
            parts = [_without_number_lists(item) for item in value]
            return [p for p, _ in parts], sum(e for _, e in parts)
    return value, 0


def _validate_object(obj: dict, schema: Schema, *, prefix: tuple[str, ...], top_level: bool, errors: list) -> dict:
    normalised = {}
    for name, value in obj.items():
        if top_level and name == ENCORD_KEY:
            normalised[name] = _validate_encord(value, schema, errors)
            continue
        if top_level and name == LEGACY_KEYFRAMES_KEY:
            errors += [_from_rule(problem) for problem in encord_rules.keyframes_problems(value)]
            normalised[name] = value
            continue
        name_error = key_name_error(name)
        if name_error is not None:
            tokens = (*prefix, str(name))  # built only for errors: a bulk write checks millions of keys
            path = encord_rules.dotted(tokens)
            message = f'key "{path}": ' + _clause(name_error)
            errors.append(MetadataError(path, "valid key name", value, message, tokens))
            normalised[name] = value
            continue
        spec = schema.spec(name)
        if spec is None:
            normalised[name] = value
            continue
        checked, problem = _check(spec, value)
        if problem is not None:
            tokens = (*prefix, str(name))
            path = encord_rules.dotted(tokens)
            errors.append(MetadataError(path, spec.type, value, _message(path, *problem), tokens))
            checked = value
        normalised[name] = checked
    return normalised


def _from_rule(problem: encord_rules.RuleProblem) -> MetadataError:
    return MetadataError(encord_rules.dotted(problem.path), problem.expected, problem.value, problem.message,
                         problem.path)


def _validate_encord(value: Any, schema: Schema, errors: list) -> Any:
    """The reserved ``$encord`` object (``encord_rules``); each frame's metadata against ``schema``."""
    problems = encord_rules.encord_problems(value)
    frames = encord_rules.frame_metadata_objects(value)
    # The structure's problems first (config, frame keys and shapes), then the values inside the frames.
    errors += [_from_rule(problem) for problem in problems]
    if not frames:
        return value if not isinstance(value, dict) else dict(value)
    normalised_frames = dict(value["frames"])
    for key, frame_metadata in frames:
        normalised_frames[key] = _validate_object(
            frame_metadata, schema, prefix=(ENCORD_KEY, "frames", key), top_level=False, errors=errors
        )
    return {**value, "frames": normalised_frames}


def embedding_values(metadata: dict, schema: Schema) -> dict[str, list[float]]:
    """The valid embedding values of one metadata object (not of its frames), as lists of floats."""
    found = {}
    if not isinstance(metadata, dict):
        return found
    for name, value in metadata.items():
        spec = schema.spec(name)
        if spec is not None and spec.type == "embedding":
            vector, problem = _check(spec, value)
            if problem is None:
                found[name] = vector
    return found


# --------------------------------------------------------------------------- the SDK schema body (v2)


def sdk_option(spec: KeySpec) -> dict:
    """One key's option in the SDK body. Scalars are ``variant`` options, as the SDK itself writes them."""
    if spec.type == "varchar" and spec.max_length != VARCHAR_MAX_LENGTH:
        return {"ty": "varchar", "max_length": spec.max_length}  # a variant hint cannot carry the length
    if spec.type in SCALAR_TYPES:
        return {"ty": "variant", "hint": spec.type}
    if spec.type == "enum":
        return {"ty": "enum", "values": sorted(spec.enum_values)}
    if spec.type == "embedding":
        return {"ty": "embedding", "size": spec.size, "api": None}
    return {"ty": spec.type}  # geospatial


def schema_to_sdk(keys: Iterable[KeySpec | Tombstone]) -> dict:
    """The SDK v2 body for these keys and tombstones, ordered by key name."""
    body = {}
    for entry in sorted(keys, key=lambda entry: entry.name):
        if isinstance(entry, Tombstone):
            deleted = sdk_option(entry.deleted) if entry.deleted else None
            body[entry.name] = {"ty": "tombstone", "deleted_ty": deleted}
        else:
            body[entry.name] = sdk_option(entry)
    return body


def schema_to_legacy(keys: Iterable[KeySpec]) -> dict[str, str]:
    """The legacy flat schema (``{"key": "number"}``): varchar, text and uuid are all ``string`` there."""
    legacy = {"varchar": "string", "text": "string", "uuid": "string"}
    return {spec.name: legacy.get(spec.type, spec.type) for spec in sorted(keys, key=lambda spec: spec.name)}


def schema_from_sdk(body: Any) -> list[KeySpec | Tombstone]:
    """Parse an SDK v2 body, or the legacy flat form ``{"key": "number"}``, into key definitions.

    Accepts ``variant`` options (hint ``number|varchar|text|boolean|datetime|uuid`` and the aliases
    ``string``/``long_string``), the dedicated forms (``{"ty": "varchar", "max_length": N}`` …), enum,
    embedding, geospatial and tombstones. Checks the shape only; key names and schema-change rules are
    the services'. Raises ``SchemaBodyError`` (a ValueError) listing every malformed key.
    """
    if not isinstance(body, dict):
        raise SchemaBodyError({"": "The schema must be a JSON object mapping key names to types."})
    parsed, errors = [], {}
    for name, option in body.items():
        try:
            entry = _entry_from_sdk(str(name), option)
        except ValueError as exc:
            errors[str(name)] = f'key "{name}": {exc}'
            continue
        spec = entry.deleted if isinstance(entry, Tombstone) else entry
        problems = definition_errors(spec) if spec is not None else {}
        if problems:
            errors[entry.name] = f'key "{entry.name}": ' + "; ".join(_clause(m) for m in problems.values())
        parsed.append(entry)
    if errors:
        raise SchemaBodyError(errors)
    return parsed


def _entry_from_sdk(name: str, option: Any) -> KeySpec | Tombstone:
    if isinstance(option, str):  # the legacy flat form
        type_name = canonical_type(option)
        if type_name in ("enum", "embedding"):
            raise ValueError(f'an {type_name} needs the v2 form ({{"ty": "{type_name}", ...}})')
        if type_name is None:
            raise ValueError(f'unknown type "{option}"')
        return KeySpec(name=name, type=type_name)
    if not isinstance(option, dict) or "ty" not in option:
        raise ValueError('expected an object with "ty"')
    if option["ty"] == "tombstone":
        deleted = option.get("deleted_ty", option.get("deletedTy"))  # the wire is snake_case; accept camelCase
        if deleted is None:
            return Tombstone(name=name)
        if isinstance(deleted, dict) and deleted.get("ty") == "tombstone":
            raise ValueError("a tombstone cannot hold a tombstone")
        return Tombstone(name=name, deleted=_option_from_sdk(name, deleted))
    return _option_from_sdk(name, option)


def _option_from_sdk(name: str, option: Any) -> KeySpec:
    if not isinstance(option, dict) or "ty" not in option:
        raise ValueError('expected an object with "ty"')
    ty = option["ty"]
    if ty == "variant":
        hint = option.get("hint", "text")  # the SDK's default hint
        type_name = canonical_type(hint) if isinstance(hint, str) else None
        if type_name not in SCALAR_TYPES:
            raise ValueError(f"unknown variant hint {_render(hint)}")
        return KeySpec(name=name, type=type_name)
    if ty in ("number", "boolean", "datetime", "text", "uuid", "geospatial"):
        if ty == "datetime" and option.get("timezone", "UTC") != "UTC":
            raise ValueError("datetimes are stored in UTC only")
        return KeySpec(name=name, type=ty)
    if ty == "varchar":
        max_length = option.get("max_length", option.get("maxLength", VARCHAR_MAX_LENGTH))
        if not _int_between(max_length, 1, VARCHAR_MAX_LENGTH):
            raise ValueError(
                f"max_length must be an integer from 1 to {VARCHAR_MAX_LENGTH}, got {_render(max_length)}"
            )
        return KeySpec(name=name, type="varchar", max_length=max_length)
    if ty == "enum":
        values = option.get("values")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"enum values must be a list of strings, got {_render(values)}")
        return KeySpec(name=name, type="enum", enum_values=tuple(sorted(set(values))))
    if ty == "embedding":
        size = option.get("size")
        if isinstance(size, bool) or not isinstance(size, int):
            raise ValueError(f"an embedding needs an integer size, got {_render(size)}")
        return KeySpec(name=name, type="embedding", size=size)
    raise ValueError(f"type {_render(ty)} is not supported")
