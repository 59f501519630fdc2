"""What an item's metadata implies beyond its JSON: key-frame rows and pgvector embedding rows.

Embedding values live in ``metadata_embedding`` (indexed per key), not in the item's JSONB: a 512-d
vector is ~10 KB of JSON text but 2 KB as a vector, and only the vector column can be searched.
Writers split them out of the metadata (``split_vectors``); readers put them back
(``metadata_with_vectors``), so users read exactly what they wrote.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db import connection

from apps.metadata import frames as frame_rules
from apps.metadata.hooks import embeddings_changed_on_commit
from apps.metadata.models import Embedding, Frame, MetadataKey
from apps.metadata.validation import Schema

ENCORD = "$encord"


@dataclass(frozen=True)
class Vector:
    """One embedding value: key name, frame (None for the item itself), values."""

    key: str
    frame: int | None
    values: list


@dataclass(frozen=True)
class VectorDeletion:
    key: str
    frame: int | None


def _is_embedding(schema: Schema, name: str) -> bool:
    spec = schema.spec(name)
    return spec is not None and spec.type == "embedding"


def split_vectors(metadata: dict, schema: Schema, *, fps: float | None) -> tuple[dict, list[Vector], list[VectorDeletion]]:
    """Take embedding values out of a (validated) metadata object or merge patch.

    Returns the object to store as JSON, the vectors to write, and, for merge patches, the vectors
    a ``null`` deletes. Frame keys in seconds mode need the fps; without it they stay in the JSON.
    """
    if not isinstance(metadata, dict) or not any(s.type == "embedding" for s in schema.keys.values()):
        return metadata, [], []
    stored, vectors, deletions = {}, [], []
    for name, value in metadata.items():
        if name == ENCORD and isinstance(value, dict):
            stored[name] = _split_frames(value, metadata, schema, fps, vectors, deletions)
        elif _is_embedding(schema, name):
            (deletions.append(VectorDeletion(name, None)) if value is None
             else vectors.append(Vector(name, None, list(value))))
        else:
            stored[name] = value
    return stored, vectors, deletions


def _split_frames(block: dict, metadata: dict, schema: Schema, fps, vectors: list, deletions: list) -> dict:
    frames = block.get("frames")
    if not isinstance(frames, dict):
        return block
    _, mode = frame_rules.encord_config(metadata)
    kept_frames = {}
    for key, frame_metadata in frames.items():
        number = frame_rules.frame_number(key, mode=mode, fps=fps)
        if number is None or not isinstance(frame_metadata, dict):
            kept_frames[key] = frame_metadata
            continue
        kept = {}
        for name, value in frame_metadata.items():
            if _is_embedding(schema, name):
                (deletions.append(VectorDeletion(name, number)) if value is None
                 else vectors.append(Vector(name, number, list(value))))
            else:
                kept[name] = value
        kept_frames[key] = kept
    return {**block, "frames": kept_frames}


def join_vectors(stored: dict, vectors: Iterable[Vector], *, fps: float | None) -> dict:
    """The metadata as the user wrote it: stored JSON plus its vectors (item level and frames)."""
    vectors = list(vectors)
    if not vectors:
        return stored
    full = dict(stored)
    frame_keys = _frame_key_names(full, fps)
    for vector in vectors:
        if vector.frame is None:
            full[vector.key] = vector.values
            continue
        block = dict(full.get(ENCORD) or {})
        frames = dict(block.get("frames") or {})
        name = frame_keys.get(vector.frame, str(vector.frame))
        frames[name] = {**(frames.get(name) or {}), vector.key: vector.values}
        block["frames"] = frames
        full[ENCORD] = block
    return full


def _frame_key_names(metadata: dict, fps) -> dict[int, str]:
    frames = (metadata.get(ENCORD) or {}).get("frames")
    if not isinstance(frames, dict):
        return {}
    _, mode = frame_rules.encord_config(metadata)
    names = {}
    for key in frames:
        number = frame_rules.frame_number(key, mode=mode, fps=fps)
        if number is not None:
            names[number] = key
    return names


# --------------------------------------------------------------------------- rows


def key_ids(organisation_id) -> dict[str, int]:
    """Embedding key name → id, for the organisation's active embedding keys."""
    return dict(
        MetadataKey.objects.filter(organisation_id=organisation_id, type="embedding", state="active")
        .values_list("name", "pk")
    )


def vectors_of(item_ids: list) -> dict:
    """item uuid → its Vector list (values parsed from pgvector's text form, exact as written)."""
    found: dict = defaultdict(list)
    if not item_ids:
        return found
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT e.item_id, e.frame, k.name, e.vector::text FROM {Embedding._meta.db_table} e "
            f"JOIN {MetadataKey._meta.db_table} k ON k.id = e.key_id WHERE e.item_id = ANY(%s) "
            "ORDER BY e.item_id, e.frame NULLS FIRST, k.name",
            [list(item_ids)],
        )
        for item_id, frame, name, text in cursor.fetchall():
            found[item_id].append(Vector(name, frame, json.loads(text)))
    return found


def metadata_with_vectors(items: Iterable) -> dict:
    """item uuid → full metadata (JSON plus vectors), for a page of items, in one vector query."""
    items = list(items)
    vectors = vectors_of([item.pk for item in items])
    return {item.pk: join_vectors(item.client_metadata, vectors.get(item.pk, []), fps=item.fps) for item in items}


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # PostgreSQL's binary COPY header: no flags, no extension
_COPY_TRAILER = b"\xff\xff"
VECTOR_COPY_ROWS = 5000  # rows packed per COPY write: ~10 MB of 512-d vectors


def vectors_copy(rows: list[tuple[int, object, int | None, list]]) -> None:
    """Binary COPY of (key_id, item_id, frame, values) into the embedding table.

    The COPY stream is packed by numpy, a block of rows at a time, instead of one psycopg dumper
    call per value: building the rows cost more than the database's side of the COPY.
    """
    if not rows:
        return
    connection.ensure_connection()
    sql = f"COPY {Embedding._meta.db_table} (key_id, item_id, frame, vector) FROM STDIN WITH (FORMAT BINARY)"
    with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(_COPY_SIGNATURE)
        for start in range(0, len(rows), VECTOR_COPY_ROWS):
            groups = defaultdict(list)  # rows of one layout: (vector size, has a frame)
            for row in rows[start:start + VECTOR_COPY_ROWS]:
                groups[len(row[3]), row[2] is not None].append(row)
            for (size, framed), group in groups.items():
                copy.write(_binary_rows(group, size, framed))
        copy.write(_COPY_TRAILER)


def _binary_rows(rows: list[tuple], size: int, framed: bool) -> bytes:
    """Rows in PostgreSQL's binary COPY format: a field count, then each field as its big-endian
    length and value. A null frame is the length -1 with no value, hence two layouts. A vector is
    pgvector's binary form: dimensions (int16), an unused int16, then float4 values.
    """
    frame_fields = [("frame_length", ">i4"), ("frame", ">i4")] if framed else [("frame_length", ">i4")]
    packed = np.empty(len(rows), dtype=[
        ("count", ">i2"), ("key_length", ">i4"), ("key", ">i8"), ("item_length", ">i4"), ("item", "S16"),
        *frame_fields, ("vector_length", ">i4"), ("dimensions", ">i2"), ("unused", ">i2"), ("values", ">f4", (size,)),
    ])
    packed["count"] = 4
    packed["key_length"] = 8
    packed["key"] = [row[0] for row in rows]
    packed["item_length"] = 16
    packed["item"] = [_uuid_bytes(row[1]) for row in rows]
    packed["frame_length"] = 4 if framed else -1
    if framed:
        packed["frame"] = [row[2] for row in rows]
    packed["vector_length"] = 4 + 4 * size
    packed["dimensions"] = size
    packed["unused"] = 0
    packed["values"] = np.asarray([row[3] for row in rows], dtype=np.float32)
    return packed.tobytes()


def _uuid_bytes(value) -> bytes:
    return value.bytes if isinstance(value, uuid.UUID) else uuid.UUID(str(value)).bytes


def vector_rows(item_id, vectors: Iterable[Vector], ids: dict[str, int]) -> list[tuple]:
    return [(ids[v.key], item_id, v.frame, v.values) for v in vectors if v.key in ids]


def frames_copy(rows: list[tuple[object, int, str]]) -> None:
    """COPY of key-frame rows (item_id, frame, metadata JSON text)."""
    if not rows:
        return
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(
        f"COPY {Frame._meta.db_table} (item_id, frame, metadata) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def frame_rows(item_id, stored: dict, *, fps: float | None) -> list[tuple]:
    """Key-frame rows of one item from its stored (vector-free) metadata."""
    return [(item_id, number, json.dumps(frame_metadata))
            for number, frame_metadata in sorted(frame_rules.key_frames(stored, fps=fps).items())]


def derived_rebuild(*, items: list[tuple[object, float | None, dict]], vectors: dict, ids: dict[str, int]) -> None:
    """Replace the key-frame and embedding rows of ``items`` ((uuid, fps, stored metadata)).

    ``vectors`` maps item uuid → the full Vector list it should have afterwards.
    """
    item_ids = [item_id for item_id, _, _ in items]
    Frame.objects.filter(item_id__in=item_ids).delete()
    removed, _ = Embedding.objects.filter(item_id__in=item_ids).delete()
    frames_copy([row for item_id, fps, stored in items for row in frame_rows(item_id, stored, fps=fps)])
    rows = [row for item_id in item_ids for row in vector_rows(item_id, vectors.get(item_id, []), ids)]
    vectors_copy(rows)
    if (removed or rows) and ids:  # the similarity app's projections of these vectors are now stale
        organisation_id = MetadataKey.objects.filter(pk__in=list(ids.values())[:1]).values_list(
            "organisation_id", flat=True).first()
        if organisation_id is not None:
            embeddings_changed_on_commit(organisation_id)
