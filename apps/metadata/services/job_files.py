"""Reading metadata job files: CSV and JSON, streamed (``csv.reader`` / ``ijson``), never held whole.

``file_scan`` makes the cheap first pass (shape, ``mode``/``match``, row count; a malformed file is
refused before anything is written); ``file_rows`` makes the row pass from a given row on, as
``FileRow`` objects. The formats are described in ``apps.metadata.services.jobs``. No database here
beyond opening the job's stored file.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import ijson

from apps.core.json_input import json_text_screen, json_value_problem_pointer, lone_surrogate_find
from apps.metadata.models_jobs import MetadataJob, MetadataJobFormat, MetadataJobMatch, MetadataJobMode
from apps.metadata.validation import key_name_error

IDENTIFIER_KEYS = {"item": MetadataJobMatch.UUID, "uuid": MetadataJobMatch.UUID,
                   "url": MetadataJobMatch.URL, "title": MetadataJobMatch.TITLE}
_JSON_START = frozenset('-0123456789[{"')
_LITERALS = {"true": True, "false": False, "null": None}
_VALUE_STARTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})  # ijson events


class MetadataFileError(Exception):
    """The file as a whole cannot be read; nothing of it is applied."""


@dataclass(slots=True)
class FileRow:
    """One row of the file: ``index`` 0-based among rows; ``error`` set when the row itself is malformed."""

    index: int
    location: str
    match: str
    key: str
    metadata: object = None
    error: str = ""


@dataclass
class FileFacts:
    total: int
    mode: str  # "" when the file does not say
    match: str  # "" when each row names its own identifier (JSON lists)
    shape: str  # csv | items-map | items-list | list
    columns: tuple[str, ...] = ()


def _open_text(handle):
    return io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")


def _csv_header(reader) -> tuple[str, tuple[str, ...]]:
    header = next(reader, None)
    if not header or not header[0].strip():
        raise MetadataFileError("The CSV file has no header row; its first column must be uuid, url or title.")
    match = IDENTIFIER_KEYS.get(header[0].strip().lower())
    if match is None:
        raise MetadataFileError(f"The CSV header's first column is {header[0]!r}; it must be uuid, url or title.")
    columns = tuple(header[1:])
    for name in columns:
        problem = None if name in ("$encord", "keyframes") else key_name_error(name)
        if problem:
            raise MetadataFileError(f"The CSV header names an invalid key {name!r}: {problem}")
    duplicates = sorted({name for name in columns if columns.count(name) > 1})
    if duplicates:
        raise MetadataFileError(f"The CSV header names these keys twice: {', '.join(duplicates)}.")
    return match, columns


def _scan_csv(handle) -> FileFacts:
    try:
        reader = csv.reader(_open_text(handle))
        match, columns = _csv_header(reader)
        total = sum(1 for cells in reader if any(cells))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MetadataFileError(f"The CSV file cannot be read: {exc}") from exc
    return FileFacts(total=total, mode="", match=match, shape="csv", columns=columns)


def csv_cell_value(text: str):
    """A CSV cell as a JSON value: JSON literals, numbers, arrays, objects and quoted strings parse;
    everything else (``sunny``, ``2024-05-01T10:00:00Z``, ``007``, `` 1``) stays the text."""
    if text in _LITERALS:
        return _LITERALS[text]
    if text[0] in _JSON_START and text[-1] > " ":
        try:
            return _CELL_DECODER.decode(text)
        except ValueError:
            return text
    return text


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity stay strings


# One decoder for every cell: json.loads with an argument builds a new decoder per call.
_CELL_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _csv_rows(handle, facts: FileFacts, *, start: int):
    reader = csv.reader(_open_text(handle))
    next(reader)
    columns, width, index = facts.columns, len(facts.columns) + 1, -1
    for cells in reader:
        if not any(cells):
            continue
        index += 1
        if index < start:
            continue
        row = FileRow(index, f"line {reader.line_num}", facts.match, cells[0].strip())
        if len(cells) != width:
            row.error = f"the row has {len(cells)} cells; the header has {width}"
        elif not row.key:
            row.error = f"the {facts.match} cell is empty"
        else:
            row.metadata = {name: csv_cell_value(cell) for name, cell in zip(columns, cells[1:]) if cell != ""}
        yield row


def _scan_json(handle) -> FileFacts:
    """Find the file's shape, its ``mode``/``match`` and count its rows, streaming parser events."""
    lone = lone_surrogate_find(handle)  # yajl would apply it as "?" without a word
    if lone is not None:
        raise MetadataFileError(f"The file is {lone.message}.")
    handle.seek(0)
    events = ijson.parse(handle, use_float=True)
    try:
        _, first, _ = next(events)
        if first == "start_array":
            return FileFacts(total=_count_elements(events, "item"), mode="", match="", shape="list")
        if first != "start_map":
            raise MetadataFileError("The JSON file must hold an object with \"items\", or a list of rows.")
        return _scan_json_object(events)
    except ijson.JSONError as exc:
        raise MetadataFileError(f"The file is not valid JSON: {exc}") from exc
    except StopIteration:
        raise MetadataFileError("The file is empty.") from None


def _count_elements(events, prefix: str) -> int:
    return sum(1 for p, event, _ in events if p == prefix and event in _VALUE_STARTS)


def _scan_json_object(events) -> FileFacts:
    found: dict = {}
    shape, total = None, 0
    for prefix, event, value in events:
        if prefix == "" and event == "map_key":
            if value not in ("mode", "match", "items"):
                raise MetadataFileError(f"Unknown key {value!r} in the file: expected mode, match and items.")
        elif prefix in ("mode", "match"):
            found[prefix] = value
        elif prefix == "items" and shape is None:
            shape = {"start_map": "items-map", "start_array": "items-list"}.get(event, "bad")
        elif shape == "items-map" and prefix == "items" and event == "map_key":
            total += 1
        elif shape == "items-list" and prefix == "items.item" and event in _VALUE_STARTS:
            total += 1
    if shape in (None, "bad"):
        raise MetadataFileError('The file needs "items": an object of item key → metadata, or a list of rows.')
    mode, match = found.get("mode", ""), found.get("match", "")
    if mode not in ("", *MetadataJobMode.values):
        raise MetadataFileError(f'"mode" is {mode!r}: it must be merge or replace.')
    if match not in ("", *MetadataJobMatch.values):
        raise MetadataFileError(f'"match" is {match!r}: it must be uuid, url or title.')
    if shape == "items-list" and match:
        raise MetadataFileError('"match" goes with an "items" object; the rows of a list name their own key.')
    return FileFacts(total=total, mode=mode, match=match, shape=shape)


def _pointer_part(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _json_rows(handle, facts: FileFacts, *, start: int, match: str):
    if facts.shape == "items-map":
        pairs = ijson.kvitems(handle, "items", use_float=True)
        for index, (key, metadata) in enumerate(pairs):
            if index >= start:
                row = FileRow(index, f"/items/{_pointer_part(key)}", match, key, metadata)
                if not isinstance(metadata, dict):
                    row.error = "the metadata must be a JSON object"
                yield row
        return
    prefix, base = ("items.item", "/items") if facts.shape == "items-list" else ("item", "")
    for index, element in enumerate(ijson.items(handle, prefix, use_float=True)):
        if index >= start:
            yield _list_row(index, f"{base}/{index}", element, match)


def _list_row(index: int, location: str, element, match: str) -> FileRow:
    if not isinstance(element, dict):
        return FileRow(index, location, "", "", error='a row must be an object like {"url": ..., "metadata": {...}}')
    names = [name for name in element if name in IDENTIFIER_KEYS]
    unknown = sorted(name for name in element if name not in IDENTIFIER_KEYS and name != "metadata")
    key = element.get(names[0]) if len(names) == 1 else None
    row = FileRow(index, location, IDENTIFIER_KEYS[names[0]] if len(names) == 1 else "",
               key if isinstance(key, str) else "", element.get("metadata"))
    if len(names) != 1:
        row.error = 'a row names its item with exactly one of "item", "url" or "title"'
    elif unknown:
        row.error = f"unknown keys in the row: {', '.join(unknown)}"
    elif not isinstance(key, str) or not key:
        row.error = f'"{names[0]}" must be a non-empty string'
    elif match and row.match != match:
        row.error = f"this job matches items by {match}; the row names a {names[0]}"
    elif not isinstance(row.metadata, dict):
        row.error = 'the row needs "metadata": a JSON object'
    return row


def file_scan(job: MetadataJob) -> FileFacts:
    with job.source.open("rb") as handle:
        return _scan_csv(handle) if job.file_format == MetadataJobFormat.CSV else _scan_json(handle)


def file_rows(handle, job: MetadataJob, facts: FileFacts):
    if job.file_format == MetadataJobFormat.CSV:
        return map(_storable_row, _csv_rows(handle, facts, start=job.next_index))
    # The rows of a JSON file whose raw text shows no unstorable value skip the per-value walk.
    origin = handle.tell()
    contents = json_text_screen(handle).values_suspect
    handle.seek(origin)
    rows = _json_rows(handle, facts, start=job.next_index, match=job.match)
    return (_storable_row(row, contents=contents) for row in rows)


def _storable_text(text: str) -> str:
    """``text`` as the error list can store and show it: NUL and lone surrogates written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")


def _storable_row(row: FileRow, *, contents: bool = True) -> FileRow:
    """The row, failed with the place and the reason when its key or metadata holds what the database
    cannot store (a NUL, 1e999, an integer of hundreds of digits, nesting 64 deep): the same rules as
    every JSON body (``apps.core.json_input``), so the row fails instead of the job's worker."""
    key_problem = json_value_problem_pointer(row.key)
    if key_problem is not None:  # the key is stored with the row's error, and an "items" key in its location
        row.key, row.location = _storable_text(row.key), _storable_text(row.location)
        row.error = row.error or f"the item key: {key_problem[1]}"
    if row.error:
        return row
    problem = json_value_problem_pointer(row.metadata) if contents else None
    if problem is not None:
        row.error = f"metadata{problem[0]}: {problem[1]}"
    return row
