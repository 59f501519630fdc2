"""A selection's metadata as CSV or JSON, produced in chunks for a streamed response (reads only).

CSV: ``uuid, name, folder, type`` then one column per metadata key found in the selection (sorted).
Cells follow the metadata-job CSV convention (``apps.metadata.services.job_files``), so an exported
file, edited, can be submitted back as a metadata job: a missing key is an empty cell; a string is
its text unless that text would read back as something else (``007`` stays ``007``, but ``"true"``,
``"12"`` or ``""`` are written as JSON string literals); any other value is its JSON.
JSON: a list of ``{"uuid", "name", "folder", "type", "metadata"}``.
``folder`` is the folder's path of names from the top (``a/a-sub``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django.db.models import F, Func, QuerySet

from apps.metadata.services.job_files import csv_cell_value
from apps.storage.models import Folder, Item

EXPORT_FORMATS = ("csv", "json")
EXPORT_CHUNK = 2000  # rows per database round trip and per streamed piece (~0.5 MB of CSV)


class _ObjectKeys(Func):
    """The top-level keys of a metadata object (none for a non-object), one row each."""

    function = "jsonb_object_keys"
    template = "jsonb_object_keys(CASE WHEN jsonb_typeof(%(expressions)s) = 'object' THEN %(expressions)s " \
               "ELSE '{}'::jsonb END)"


def export_keys(items: QuerySet[Item]) -> list[str]:
    """Every top-level metadata key present in ``items``, sorted: the CSV's metadata columns."""
    keys = (Item.objects.filter(pk__in=items.values("pk")).annotate(key=_ObjectKeys(F("client_metadata")))
            .order_by().values_list("key", flat=True).distinct())
    return sorted(keys)


def _folder_paths(organisation_id) -> dict:
    folders = {pk: (name, path) for pk, name, path in
               Folder.objects.filter(organisation_id=organisation_id).values_list("uuid", "name", "path")}
    return {pk: "/".join([*(folders[a][0] for a in path if a in folders), name])
            for pk, (name, path) in folders.items()}


def _csv_cell(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value and csv_cell_value(value) == value else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _rows(items: QuerySet[Item]):
    return (items.order_by("pk").values_list("uuid", "name", "folder_id", "item_type", "client_metadata")
            .iterator(chunk_size=EXPORT_CHUNK))


def export_csv(items: QuerySet[Item], *, organisation_id) -> Iterator[str]:
    """The CSV, header first, in pieces of about ``EXPORT_CHUNK`` rows."""
    keys = export_keys(items)
    paths = _folder_paths(organisation_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["uuid", "name", "folder", "type", *keys])
    count = 0
    for pk, name, folder_id, item_type, metadata in _rows(items):
        metadata = metadata if isinstance(metadata, dict) else {}
        writer.writerow([str(pk), name, paths.get(folder_id, ""), item_type,
                         *(_csv_cell(metadata[key]) if key in metadata else "" for key in keys)])
        count += 1
        if count % EXPORT_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def export_json(items: QuerySet[Item], *, organisation_id) -> Iterator[str]:
    """The JSON list, in pieces of about ``EXPORT_CHUNK`` items."""
    paths = _folder_paths(organisation_id)
    piece, count = ["["], 0
    for pk, name, folder_id, item_type, metadata in _rows(items):
        piece.append(("," if count else "") + json.dumps(
            {"uuid": str(pk), "name": name, "folder": paths.get(folder_id, ""), "type": item_type,
             "metadata": metadata}, ensure_ascii=False))
        count += 1
        if count % EXPORT_CHUNK == 0:
            yield "".join(piece)
            piece = []
    piece.append("]")
    yield "".join(piece)
