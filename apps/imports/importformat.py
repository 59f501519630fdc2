"""Streaming parser and validator for Encord-format JSON registration files.

The format is described in ``docs/import-format.md``; ``$encord`` and ``keyframes`` in
``docs/metadata.md``, and their rules are ``apps.metadata.encord_rules``' (through
``validate_metadata`` with no schema: what the metadata API would refuse whatever the schema, an entry
is refused for too). Nothing here touches the database: an import job calls
``scan_import_file`` once (file-level checks and counts, before anything is written), then
``iter_import_entries`` (one ``ImportEntry`` or ``EntryError`` per entry, in file order).

Files are never loaded whole. The scan walks ijson's event stream keeping only counters. The
entry pass runs ijson's C item builder once per data key present, seeking back to where reading
began for each key and stopping as soon as that key's last entry is built; so the file object
must be binary and seekable (a local file, an uploaded file, a storage file).

Numbers come out as plain ``int``/``float`` (ijson's ``use_float``; where yajl refuses an integer
beyond 64 bits, that pass is redone with exact numbers and ``json_plain``), so everything an entry
carries can be written with ``json.dumps`` as it is.
"""

from __future__ import annotations

import ast
import difflib
import math
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Any, BinaryIO

import ijson

from apps.core.json_input import json_text_screen, json_value_problem_pointer, lone_surrogate_find
from apps.metadata.validation import Schema, key_name_error, validate_metadata

# The entry pass relies on the C item builder for its speed (the pure Python backend is about ten
# times slower); ask for it by name rather than trust the default, which IJSON_BACKEND can change.
try:
    _ijson = ijson.get_backend("yajl2_c")
except ImportError:  # pragma: no cover - an ijson wheel without its C extension
    _ijson = ijson
IJSON_BACKEND: str = _ijson.backend

DATA_KEYS = ("videos", "audio", "images", "image_groups", "dicom_series", "text", "pdf", "nifti")
DATA_KEY_ALIASES = {"pdfs": "pdf"}
OPTION_KEYS = ("skip_duplicate_urls", "upsert_metadata")
URL_SCHEMES = ("file", "http", "https", "s3")

_KIND_BY_DATA_KEY = {
    "videos": "video", "audio": "audio", "images": "image", "image_groups": "image_group",
    "dicom_series": "dicom_series", "text": "text", "pdf": "pdf", "pdfs": "pdf", "nifti": "nifti",
}
_GROUP_DATA_KEYS = frozenset({"image_groups", "dicom_series"})
_MEDIA_BLOCK_BY_DATA_KEY = {"videos": "videoMetadata", "images": "imageMetadata", "audio": "audioMetadata"}
_ENTRY_KEYS_BY_DATA_KEY = {
    data_key: frozenset(
        {"title", "clientMetadata"}
        | ({"createVideo"} if data_key == "image_groups" else set())
        | ({_MEDIA_BLOCK_BY_DATA_KEY[data_key]} if data_key in _MEDIA_BLOCK_BY_DATA_KEY else set())
        | (set() if data_key in _GROUP_DATA_KEYS else {"objectUrl"})
    )
    for data_key in _KIND_BY_DATA_KEY
}
_URL_KEY_PREFIX = "objectUrl_"

# Media-metadata block -> field -> value type. camelCase spellings map onto the snake_case names.
_MEDIA_FIELD_TYPES_BY_BLOCK = {
    "videoMetadata": {"fps": "number", "duration": "number", "width": "integer", "height": "integer",
                      "file_size": "integer", "mime_type": "string"},
    "imageMetadata": {"mime_type": "string", "file_size": "integer", "width": "integer", "height": "integer"},
    "audioMetadata": {"duration": "number", "file_size": "integer", "mime_type": "string",
                      "sample_rate": "integer", "bit_depth": "integer", "codec": "string",
                      "num_channels": "integer"},
}
_MEDIA_CAMEL_CASE = {
    "fileSize": "file_size", "mimeType": "mime_type", "sampleRate": "sample_rate",
    "bitDepth": "bit_depth", "numChannels": "num_channels",
}

# scheme, host, path: what urllib.parse.urlsplit gives for "scheme://..." URLs, in a third of the time.
_URL_PARTS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)")
_URL_SCHEMES_HINT = "use file://, http://, https:// or s3://"
_FRAME_NUMBER = re.compile(r"[0-9]+")
_NEWLINES_TO_SPACES = bytes.maketrans(b"\n\r", b"  ")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class Limits:
    """File-level and entry-level limits (import-format.md, "Limits we keep")."""

    max_entries: int = 500_000
    max_urls: int = 1_000_000
    max_url_length: int = 16 * 1024  # bytes of UTF-8
    max_title_length: int = 300  # characters
    max_group_size: int = 32_767  # objectUrl_N keys in one group, sequence or series


LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """The file's top-level options; both default to false."""

    skip_duplicate_urls: bool = False
    upsert_metadata: bool = False


@dataclass(frozen=True, slots=True)
class ImportEntry:
    """One valid entry, normalised.

    ``index``: the entry's position over the whole file in file order (0-based), the same on every
    read of the same bytes, so a job can resume after its last committed index.
    ``kind``: video, audio, image, image_group, image_sequence, dicom_series, text, pdf or nifti.
    ``urls``: the one URL, or a group's or series' ``objectUrl_N`` values sorted by N.
    ``title``: as given, or a default: for a single file the URL's path (``/path/to/video23.mp4``);
    for a group or series the name of the directory holding its first file
    (``https://host/g1/0.jpg`` -> ``g1``), or that file's path when it has none. A default
    longer than the title limit keeps its last characters (the file name).
    ``client_metadata``: the given object untouched (``$encord``, ``keyframes`` included), ``{}``
    when absent. ``media_metadata``: the video/image/audio metadata block with snake_case keys,
    ``None`` when the entry has none (then the file must be probed).
    """

    index: int
    pointer: str
    kind: str
    urls: tuple[str, ...]
    title: str
    client_metadata: dict
    media_metadata: dict | None
    create_video: bool


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an entry: the most specific JSON pointer known, and why."""

    pointer: str
    reason: str


@dataclass(frozen=True, slots=True)
class EntryError:
    """Why one entry was refused: every problem found (``problems``), in the entry's key order.

    ``pointer``/``reason`` are the one problem's, or for several the entry's pointer and a reason
    listing each problem with its own pointer. ``urls`` and ``client_metadata`` are what could be read
    (the job checks that metadata against the schema too, so its problems are reported with the rest).
    """

    index: int
    pointer: str
    reason: str
    problems: tuple[Problem, ...] = field(default=(), compare=False)
    urls: tuple[str, ...] = field(default=(), compare=False)
    client_metadata: dict | None = field(default=None, compare=False)
    entry_pointer: str = field(default="", compare=False)  # the entry itself: /videos/3

    def __str__(self) -> str:
        return f"{self.pointer}: {self.reason}"


ENTRY_PROBLEMS_SHOWN = 20  # problems spelled out in one entry's reason; the rest are counted


def entry_error(index: int, entry_pointer: str, problems, *, urls=(), client_metadata=None) -> EntryError:
    """The EntryError of an entry with ``problems`` (at least one; repeats are dropped)."""
    problems = tuple(dict.fromkeys(problems))
    if len(problems) == 1:
        pointer, reason = problems[0].pointer, problems[0].reason
    else:
        shown = "; ".join(f"{p.pointer}: {p.reason}" for p in problems[:ENTRY_PROBLEMS_SHOWN])
        more = len(problems) - ENTRY_PROBLEMS_SHOWN
        pointer, reason = entry_pointer, f"{len(problems)} problems: {shown}" + (f"; and {more} more" if more > 0 else "")
    return EntryError(index, pointer, reason, problems, tuple(urls), client_metadata, entry_pointer)


class ImportFileError(Exception):
    """The whole file is refused (not JSON, wrong shape, over a limit); nothing should be written.

    ``pointer`` is ``""`` for the whole file, else the top-level key at fault (``/videos``).
    """

    def __init__(self, pointer: str, reason: str):
        super().__init__(f"{pointer}: {reason}" if pointer else reason)
        self.pointer = pointer
        self.reason = reason


class _Invalid(Exception):
    """Raised inside one check of entry validation; becomes one Problem of the entry's EntryError."""

    def __init__(self, pointer: str, reason: str):
        super().__init__(pointer, reason)
        self.pointer = pointer
        self.reason = reason


class _Problems(list):
    """The problems of one entry; ``checking()`` records a check's ``_Invalid`` and goes on."""

    def checking(self):
        return _Checking(self)


class _Checking:
    __slots__ = ("problems",)

    def __init__(self, problems: _Problems):
        self.problems = problems

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, _Invalid):
            self.problems.append(Problem(exc.pointer, exc.reason))
            return True
        return False


# --- first pass: options, counts, file-level limits --------------------------------------------

def scan_import_file(
    fileobj: BinaryIO, *, limits: Limits = LIMITS
) -> tuple[ImportOptions, dict[str, int]]:
    """Read the whole file once, from its current position, keeping only counters.

    Returns the options (they may appear anywhere in the top-level object) and the number of
    entries per data key, in file order and spelled as in the file (``pdfs`` stays ``pdfs``).
    Raises ``ImportFileError`` when the file is not JSON, its top level is not an object, it has an
    unknown or repeated top-level key, a data key that is not a list, an option that is not a
    boolean, or more entries or URLs than ``limits`` allow (the reason gives the count and the
    limit). Entries themselves are not validated here. A file holding integers beyond 64 bits is
    read twice, so it must then be seekable.
    """
    origin = fileobj.tell()
    lone = lone_surrogate_find(fileobj)
    if lone is not None:  # yajl would store it as "?" without a word
        raise ImportFileError("", lone.message)
    fileobj.seek(origin)
    scanned = _scan_in_c(fileobj, limits)
    for exact_numbers in (False, True):
        if scanned is not None:
            break
        fileobj.seek(origin)
        reader = _CountingReader(fileobj)
        try:
            events = _ijson.basic_parse(reader, use_float=not exact_numbers)
            scanned = _scan_top_level(events)
        except UnicodeDecodeError:
            raise _undecodable_key_error(reader) from None
        except ijson.JSONError as exc:
            if exact_numbers or not _is_number_overflow(exc):
                raise _json_file_error(exc, reader) from None
    options, counts, url_count = scanned
    entry_count = sum(counts.values())
    if entry_count > limits.max_entries:
        raise ImportFileError(
            "", f"{entry_count:,} entries, more than the limit of {limits.max_entries:,} per file"
        )
    if url_count > limits.max_urls:
        raise ImportFileError("", f"{url_count:,} URLs, more than the limit of {limits.max_urls:,} per file")
    return ImportOptions(**options), counts


class _UrlKeyCounter:
    """``map_type`` of the C scan: one object stands for every JSON object in the file.

    It keeps no values (everything nested in an entry, embeddings included, is dropped as soon as it
    is built, and a data array builds as a list of pointers to this one object) and counts the keys
    spelled like URL keys at any depth: an upper bound of the entries' own URL keys.
    """

    __slots__ = ("urls",)

    def __init__(self):
        self.urls = 0

    def __call__(self) -> _UrlKeyCounter:
        return self

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "objectUrl" or key.startswith(_URL_KEY_PREFIX):
            self.urls += 1


def _scan_in_c(fileobj: BinaryIO, limits: Limits = LIMITS) -> tuple[dict[str, bool], dict[str, int], int] | None:
    """The scan of a well-formed file with every event handled inside ijson's C extension.

    Walking the events in Python costs ~0.25 us each, i.e. ~130 us for an entry holding a 512-d
    embedding; here the file costs about one C parse, and memory grows by one pointer per entry.
    Returns None (and leaves the file where it was) for anything unusual: JSON errors, an unknown,
    repeated or mistyped top-level key, a top level that is not an object, or more URL-like keys
    than the URL limit (the count here may include keys nested in metadata). The event-by-event
    scan then reads the file again and reports the problem, or the exact count, as it always has.
    """
    origin = fileobj.tell()
    options: dict[str, bool] = {}
    counts: dict[str, int] = {}
    url_keys = _UrlKeyCounter()
    try:
        for key, value in _ijson.kvitems(_CountingReader(fileobj), "", map_type=url_keys, use_float=True):
            if key in options or key in counts:
                return _rewound(fileobj, origin)
            if key in OPTION_KEYS and type(value) is bool:
                options[key] = value
            elif key in _KIND_BY_DATA_KEY and type(value) is list:
                counts[key] = len(value)
            else:
                return _rewound(fileobj, origin)
            del value
    except (ijson.JSONError, UnicodeDecodeError):
        return _rewound(fileobj, origin)
    if (not options and not counts) or url_keys.urls > limits.max_urls:
        return _rewound(fileobj, origin)  # an empty object or not an object; or over the URL limit
    return options, counts, url_keys.urls


def _rewound(fileobj: BinaryIO, origin: int) -> None:
    fileobj.seek(origin)
    return None


def _scan_top_level(events) -> tuple[dict[str, bool], dict[str, int], int]:
    events = iter(events)
    event, _ = next(events)
    if event != "start_map":
        raise ImportFileError("", f"the top level must be an object, not {_EVENT_TYPE_NAMES[event]}")
    options: dict[str, bool] = {}
    counts: dict[str, int] = {}
    url_count = 0
    for event, key in events:
        if event == "end_map":
            break
        pointer = "/" + _escape(key)
        if key in options or key in counts:
            raise ImportFileError(pointer, f'"{key}" appears more than once')
        event, value = next(events)
        if key in OPTION_KEYS:
            if event != "boolean":
                raise ImportFileError(pointer, f"must be true or false, not {_EVENT_TYPE_NAMES[event]}")
            options[key] = value
        elif key in _KIND_BY_DATA_KEY:
            if event != "start_array":
                raise ImportFileError(pointer, f"must be a list, not {_EVENT_TYPE_NAMES[event]}")
            counts[key], urls = _count_entries(events)
            url_count += urls
        else:
            known = (*DATA_KEYS, *DATA_KEY_ALIASES, *OPTION_KEYS)
            raise ImportFileError(pointer, _unknown_key_reason(key, known, what="top-level key"))
    for _ in events:  # let the parser reject trailing garbage
        pass
    return options, counts, url_count


_NESTING_EVENTS = frozenset({"start_map", "start_array", "end_map", "end_array"})


def _count_entries(events) -> tuple[int, int]:
    """Consume one data array's events; count its entries and their objectUrl keys."""
    entries = urls = depth = 0
    for event, value in events:
        if depth > 1 and event not in _NESTING_EVENTS:
            continue  # a value deep inside an entry (e.g. an embedding's numbers): nothing to count
        if depth == 0:
            if event == "end_array":
                return entries, urls
            entries += 1
            if event == "start_map" or event == "start_array":
                depth = 1
        elif event == "map_key":
            if depth == 1 and (value == "objectUrl" or value.startswith(_URL_KEY_PREFIX)):
                urls += 1
        elif event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
    raise AssertionError("the parser ended inside an array without an error")  # pragma: no cover


_EVENT_TYPE_NAMES = {
    "start_map": "an object", "start_array": "a list", "string": "a string", "number": "a number",
    "integer": "a number", "double": "a number", "boolean": "a boolean", "null": "null",
}


# --- second pass: entries ----------------------------------------------------------------------

def iter_import_entries(
    fileobj: BinaryIO,
    *,
    limits: Limits = LIMITS,
    start_index: int = 0,
    counts: dict[str, int] | None = None,
) -> Iterator[ImportEntry | EntryError]:
    """Yield one ``ImportEntry`` or ``EntryError`` per entry, in file order, from ``start_index``.

    ``counts`` is what ``scan_import_file`` returned for the same bytes; without it the file is
    scanned first, so file-level errors and limits raise from this call, before any entry.
    Entries before ``start_index`` are neither validated nor yielded, and data keys that lie wholly
    before it get no pass of their own. The file is read from its current position and must be
    seekable. Malformed JSON met mid-stream raises ``ImportFileError``; the entries already
    yielded stay valid.
    """
    if start_index < 0:
        raise ValueError("start_index must be >= 0")
    origin = fileobj.tell()
    if counts is None:
        counts = scan_import_file(fileobj, limits=limits)[1]
    unknown = set(counts) - set(_KIND_BY_DATA_KEY)
    if unknown:
        raise ValueError(f"counts has keys that are not data keys: {sorted(unknown)}")
    return _iter_entries(fileobj, origin, dict(counts), start_index, limits)


def _iter_entries(fileobj, origin, counts, start_index, limits) -> Iterator[ImportEntry | EntryError]:
    """One pass of yajl's C event stream shared by every data key's item builder.

    Each key's builder stops right after its last counted entry, and the next key's builder picks
    up the same stream, so the file is parsed once (a builder per key restarting at the top would
    re-parse every earlier array: twice the parse time on a typical mixed file).
    """
    next_index = start_index
    exact_numbers = False
    fileobj.seek(origin)
    values_suspect = json_text_screen(fileobj).values_suspect
    while True:
        fileobj.seek(origin)
        reader = _CountingReader(fileobj)
        # Floats straight from C are much faster than Decimals, but yajl then refuses integers
        # beyond 64 bits; when it does, the pass restarts with exact numbers where it stopped.
        # Several data keys share one event stream, which the builders consume through Python
        # (costly per event for embedding-heavy files); a file with one data key, the usual shape
        # of large imports, is read straight from the file by the C builder.
        source = _ijson.parse(reader, use_float=not exact_numbers) if len(counts) > 1 else None
        try:
            first_index = 0
            for data_key, count in counts.items():
                if first_index + count > next_index:
                    position = max(next_index - first_index, 0)
                    builder = (_ijson.items(source, f"{data_key}.item") if source is not None
                               else _ijson.items(reader, f"{data_key}.item", use_float=not exact_numbers))
                    for raw in islice(builder, position, count):
                        yield _entry_from_raw(data_key, position, first_index + position, raw, limits, exact_numbers,
                                             values_suspect)
                        position += 1
                        next_index = first_index + position
                    if position != count:
                        raise ImportFileError(
                            "/" + data_key, f"has {position:,} entries but the scan counted {count:,}: the file changed"
                        )
                first_index += count
            return
        except UnicodeDecodeError:
            raise _undecodable_key_error(reader) from None
        except ijson.JSONError as exc:
            if exact_numbers or not _is_number_overflow(exc):
                raise _json_file_error(exc, reader) from None
            exact_numbers = True


# --- one entry ---------------------------------------------------------------------------------

def validate_entry(
    kind_key: str, position: int, index: int, raw: Any, limits: Limits = LIMITS
) -> ImportEntry | EntryError:
    """Validate and normalise ``raw``, the entry at ``/<kind_key>/<position>``, file index ``index``.

    ``kind_key`` is the data key as spelled in the file (``pdfs`` is accepted). ``raw`` may hold
    ``Decimal`` numbers (ijson's default); they are converted to ``int``/``float`` first. Returns
    an ``EntryError`` listing every problem found (URLs, title, media block, metadata rules).
    """
    if kind_key not in _KIND_BY_DATA_KEY:
        raise ValueError(f"unknown data key {kind_key!r}")
    return _entry_from_raw(kind_key, position, index, raw, limits, exact_numbers=True)


def _entry_from_raw(
    data_key: str, position: int, index: int, raw: Any, limits: Limits, exact_numbers: bool,
    values_suspect: bool = True,
):
    """``exact_numbers``: ``raw`` may hold Decimals (slower: every value is visited).
    ``values_suspect=False``: the file's raw text shows no unstorable value (``json_text_screen``),
    so the entry is not walked for one."""
    pointer = f"/{data_key}/{position}"
    if exact_numbers:
        try:
            raw = json_plain(raw)
        except ValueError as exc:
            return entry_error(index, pointer, [Problem(pointer, str(exc))])
    if type(raw) is not dict:
        return entry_error(index, pointer, [Problem(pointer, f"an entry must be an object, not {_shown(raw)}")])
    # NUL, 1e999, huge integers, deep nesting
    unstorable = json_value_problem_pointer(raw) if values_suspect or exact_numbers else None
    if unstorable is not None:  # the one problem reported: the other checks would trip on it
        return entry_error(index, pointer, [Problem(pointer + unstorable[0], unstorable[1])])
    problems = _Problems()
    if data_key in _GROUP_DATA_KEYS:
        urls = _group_urls(data_key, pointer, raw, limits, problems)
    else:
        _check_entry_keys(data_key, pointer, raw, problems)
        try:
            urls = (_checked_url(pointer + "/objectUrl", raw.get("objectUrl", _MISSING), limits),)
        except _Invalid as invalid:
            urls = ()
            problems.append(Problem(invalid.pointer, invalid.reason))
    try:
        title = _entry_title(data_key, pointer, raw, urls, limits) if urls or "title" in raw else ""
    except _Invalid as invalid:
        title = ""
        problems.append(Problem(invalid.pointer, invalid.reason))
    create_video = raw.get("createVideo", False)
    if type(create_video) is not bool:
        problems.append(Problem(pointer + "/createVideo", f"must be true or false, not {_shown(create_video)}"))
    media_metadata = _media_metadata(data_key, pointer, raw, problems)
    client_metadata = raw.get("clientMetadata", _MISSING)
    if client_metadata is _MISSING:
        client_metadata = {}
    else:
        problems += _client_metadata_problems(pointer + "/clientMetadata", client_metadata)
    if problems:
        return entry_error(index, pointer, problems, urls=urls,
                           client_metadata=client_metadata if type(client_metadata) is dict else None)
    kind = "image_sequence" if create_video else _KIND_BY_DATA_KEY[data_key]
    return ImportEntry(index, pointer, kind, urls, title, client_metadata, media_metadata, create_video)


def _check_entry_keys(data_key: str, pointer: str, raw: dict, problems: _Problems) -> None:
    allowed = _ENTRY_KEYS_BY_DATA_KEY[data_key]
    if allowed.issuperset(raw):
        return
    for key in raw:
        if key not in allowed:
            problems.append(Problem(f"{pointer}/{_escape(key)}", _unknown_entry_key_reason(data_key, key)))


def _group_urls(data_key: str, pointer: str, raw: dict, limits: Limits, problems: _Problems) -> tuple[str, ...]:
    """The group's URLs sorted by position; () when any URL key or URL is refused (each one is reported)."""
    allowed = _ENTRY_KEYS_BY_DATA_KEY[data_key]
    url_keys: dict[int, str] = {}  # position -> key
    refused = False
    for key in raw:
        if key in allowed:
            continue
        key_pointer = f"{pointer}/{_escape(key)}"
        if not key.startswith(_URL_KEY_PREFIX):
            problems.append(Problem(key_pointer, _unknown_entry_key_reason(data_key, key)))
            continue
        suffix = key[len(_URL_KEY_PREFIX):]
        if not _FRAME_NUMBER.fullmatch(suffix):
            reason = f'the position after "{_URL_KEY_PREFIX}" must be a non-negative integer, not "{suffix}"'
            problems.append(Problem(key_pointer, reason))
            refused = True
            continue
        number = int(suffix)
        if number in url_keys:
            problems.append(Problem(key_pointer, f'position {number} is also given by "{url_keys[number]}"'))
            refused = True
            continue
        url_keys[number] = key
    noun = "series" if data_key == "dicom_series" else "group"
    if not url_keys and not refused:
        problems.append(Problem(f"{pointer}/objectUrl_0", f'missing: a {noun} needs at least one "objectUrl_N" key'))
        return ()
    if len(url_keys) > limits.max_group_size:
        problems.append(Problem(pointer, f'{len(url_keys):,} "objectUrl_N" keys, more than the limit of '
                                         f"{limits.max_group_size:,} per {noun}"))
        return ()
    urls = []
    for number in sorted(url_keys):
        with problems.checking():
            urls.append(_checked_url(f"{pointer}/{_escape(url_keys[number])}", raw[url_keys[number]], limits))
    return tuple(urls) if len(urls) == len(url_keys) and not refused else ()


def _checked_url(pointer: str, url: Any, limits: Limits) -> str:
    if url is _MISSING:
        raise _Invalid(pointer, "missing: every entry needs the URL of its file")
    if type(url) is not str:
        raise _Invalid(pointer, f"must be a string, not {_shown(url)}")
    if not url:
        raise _Invalid(pointer, "must not be empty")
    if len(url) > limits.max_url_length or (not url.isascii() and len(url.encode()) > limits.max_url_length):
        raise _Invalid(
            pointer, f"{len(url.encode()):,} bytes long, more than the limit of {limits.max_url_length:,}"
        )
    if url != url.strip():
        raise _Invalid(pointer, "must not start or end with whitespace")
    parts = _URL_PARTS.match(url)
    if parts is None:
        raise _Invalid(pointer, f"is not a URL ({_URL_SCHEMES_HINT})")
    scheme, host, path = parts.group(1).lower(), parts.group(2), parts.group(3)
    if scheme not in URL_SCHEMES:
        raise _Invalid(pointer, f'scheme "{parts.group(1)}" is not supported ({_URL_SCHEMES_HINT})')
    if scheme in ("http", "https") and not host:
        raise _Invalid(pointer, "has no host")
    if scheme == "s3" and (not host or path in ("", "/")):
        raise _Invalid(pointer, "must be s3://bucket/key")
    if scheme == "file" and path in ("", "/"):
        raise _Invalid(pointer, "must be file:///path/to/file")
    if scheme == "file" and host.lower() not in ("", "localhost"):
        raise _Invalid(pointer, f'names the host "{host}": a file:// URL is a file on the machine Loupe runs on, '
                                "so it has no host (file:///path/to/file)")
    return url


def _entry_title(data_key: str, pointer: str, raw: dict, urls: tuple[str, ...], limits: Limits) -> str:
    title = raw.get("title", _MISSING)
    if title is _MISSING:
        return _default_title(data_key, urls[0])[-limits.max_title_length:]
    if type(title) is not str:
        raise _Invalid(pointer + "/title", f"must be a string, not {_shown(title)}")
    if not title.strip():
        raise _Invalid(pointer + "/title", "must not be blank (leave it out to use the default)")
    if len(title) > limits.max_title_length:
        raise _Invalid(
            pointer + "/title",
            f"{len(title):,} characters long, more than the limit of {limits.max_title_length:,}",
        )
    return title


def _default_title(data_key: str, url: str) -> str:
    path = _URL_PARTS.match(url).group(3) or url
    if data_key in _GROUP_DATA_KEYS:
        return posixpath.basename(posixpath.dirname(path.rstrip("/"))) or path
    return path


def _media_metadata(data_key: str, pointer: str, raw: dict, problems: _Problems) -> dict | None:
    block_key = _MEDIA_BLOCK_BY_DATA_KEY.get(data_key)
    if block_key is None or block_key not in raw:
        return None
    block = raw[block_key]
    block_pointer = f"{pointer}/{block_key}"
    if type(block) is not dict:
        problems.append(Problem(block_pointer, f"must be an object, not {_shown(block)}"))
        return None
    field_types = _MEDIA_FIELD_TYPES_BY_BLOCK[block_key]
    normalised: dict[str, Any] = {}
    for key, value in block.items():
        name = _MEDIA_CAMEL_CASE.get(key, key)
        value_type = field_types.get(name)
        if (value_type == "string" and type(value) is str and name not in normalised) or (
            value_type == "integer" and type(value) is int and value >= 0 and name not in normalised
        ):
            normalised[name] = value
            continue
        field_pointer = f"{block_pointer}/{_escape(key)}"
        if value_type is None:
            spellings = [*field_types, *(c for c, snake in _MEDIA_CAMEL_CASE.items() if snake in field_types)]
            problems.append(Problem(field_pointer, _unknown_key_reason(key, spellings)))
        elif name in normalised:
            problems.append(Problem(field_pointer, f'"{key}" repeats "{name}"'))
        else:
            try:
                normalised[name] = _media_value(field_pointer, value_type, value)
            except _Invalid as invalid:
                problems.append(Problem(invalid.pointer, invalid.reason))
    return normalised


def _media_value(pointer: str, value_type: str, value: Any) -> int | float:
    """Check a media-metadata value that is not already a string or a non-negative int."""
    if value_type == "string":
        raise _Invalid(pointer, f"must be a string, not {_shown(value)}")
    number = _plain_number(value)
    if value_type == "integer":
        if type(number) is float and number.is_integer():
            number = int(number)
        if type(number) is not int or number < 0:
            raise _Invalid(pointer, f"must be a non-negative integer, not {_shown(value)}")
        return number
    if number is None or number < 0:
        raise _Invalid(pointer, f"must be a non-negative number, not {_shown(value)}")
    return number


def _plain_number(value: Any) -> int | float | None:
    """``value`` as a finite int or float; None when it is not a JSON number (booleans are not)."""
    if type(value) is Decimal:
        value = json_plain(value)
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value
    return None


# --- clientMetadata: key names, $encord and legacy keyframes -------------------------------------

_NO_SCHEMA = Schema()


def _client_metadata_problems(pointer: str, metadata: Any) -> list[Problem]:
    """What the metadata rules refuse whatever the organisation's schema says (``validate_metadata``
    with no key declared): key names, ``$encord``, ``keyframes``. Typed values are checked against the
    schema by the job, with the same function, so every door gives the same answer and message."""
    if type(metadata) is not dict:
        return [Problem(pointer, f"must be an object, not {_shown(metadata)}")]
    if "$encord" not in metadata and "keyframes" not in metadata and not any(map(key_name_error, metadata)):
        return []  # what validate_metadata would conclude with no schema, at a tenth of the cost
    _, errors = validate_metadata(metadata, _NO_SCHEMA, max_bytes=None)
    return [Problem(pointer + error.pointer, error.message) for error in errors]


# --- helpers -----------------------------------------------------------------------------------

def json_plain(value: Any) -> Any:
    """``value`` with every ``Decimal`` replaced as ``json.loads`` would have decoded its text.

    ``Decimal("5")`` becomes ``5``; ``Decimal("5.0")`` and ``Decimal("1E+3")`` become floats.
    Containers are rebuilt only when they hold a Decimal somewhere; otherwise returned as they are.
    Raises ``ValueError`` for a number beyond the range of a float (``1E+400``).
    """
    value_type = type(value)
    if value_type is Decimal:
        if value.as_tuple().exponent == 0:
            return int(value)
        if not math.isfinite(float(value)):
            raise ValueError(f"holds the number {value}, beyond the range of a float")
        return float(value)
    if value_type is dict:
        plain = {key: json_plain(item) for key, item in value.items()}
        return value if all(plain[key] is item for key, item in value.items()) else plain
    if value_type is list:
        plain_items = [json_plain(item) for item in value]
        return value if all(new is old for new, old in zip(plain_items, value)) else plain_items
    return value


def _escape(key: str) -> str:
    """``key`` as one JSON-pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _shown(value: Any) -> str:
    """A short description of a JSON value for an error message."""
    if type(value) is dict:
        return "an object"
    if type(value) is list:
        return "a list"
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is str:
        text = value if len(value) <= 40 else value[:37] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _unknown_entry_key_reason(data_key: str, key: str) -> str:
    allowed = [*_ENTRY_KEYS_BY_DATA_KEY[data_key], *(["objectUrl_0"] if data_key in _GROUP_DATA_KEYS else [])]
    if _closest_key(key, allowed) is None:
        elsewhere = [other for other in DATA_KEYS if key in _ENTRY_KEYS_BY_DATA_KEY[other]]
        if elsewhere:
            return f'unknown key "{key}" (only {" and ".join(elsewhere)} entries take it)'
    return _unknown_key_reason(key, allowed)


def _unknown_key_reason(key: str, candidates, what: str = "key") -> str:
    match = _closest_key(key, candidates)
    return f'unknown {what} "{key}"' + (f' (did you mean "{match}"?)' if match else "")


def _closest_key(key: str, candidates) -> str | None:
    """The candidate ``key`` probably meant: equal ignoring case and ``_``, ``-``, spaces, or close."""
    def fold(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "").replace(" ", "")

    folded = {fold(candidate): candidate for candidate in sorted(candidates)}
    if fold(key) in folded:
        return folded[fold(key)]
    close = difflib.get_close_matches(fold(key), list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None


# --- reading, and where a JSON syntax error is -------------------------------------------------

class _CountingReader:
    """Wraps a binary file for ijson and remembers where the chunk being parsed starts."""

    __slots__ = ("_file", "chunk", "chunk_start", "newlines_before", "last_newline")

    def __init__(self, fileobj: BinaryIO):
        self._file = fileobj
        self.chunk = b""
        self.chunk_start = 0  # bytes read before `chunk`, counted from where reading began
        self.newlines_before = 0
        self.last_newline = -1  # offset of the last newline before `chunk`

    def read(self, size: int = -1) -> bytes:
        previous = self.chunk
        if previous:
            newline_at = previous.rfind(b"\n")
            if newline_at >= 0:
                self.newlines_before += previous.count(b"\n")
                self.last_newline = self.chunk_start + newline_at
            self.chunk_start += len(previous)
        self.chunk = self._file.read(size)
        if isinstance(self.chunk, str):
            raise TypeError("import files must be opened in binary mode")
        return self.chunk


def _is_number_overflow(exc: Exception) -> bool:
    """yajl's "integer overflow" or "numeric (floating point) overflow", met with ``use_float``."""
    return "overflow" in str(exc).split("\n", 1)[0]


def _undecodable_key_error(reader: _CountingReader) -> ImportFileError:
    """yajl hands keys to Python as UTF-8 and a lone surrogate (``"\\udc00"``) is not: the file cannot
    be read past it (string values get "?" instead, and are stored harmlessly)."""
    start, end = reader.chunk_start, reader.chunk_start + len(reader.chunk)
    return ImportFileError("", "not valid JSON: a key holds a lone surrogate (\\ud800-\\udfff) or text that "
                               f"is not UTF-8, between bytes {start:,} and {end:,}")


def _json_file_error(exc: Exception, reader: _CountingReader) -> ImportFileError:
    message = str(exc)
    # yajl's message comes back as a bytes repr when the text it quotes is not valid UTF-8.
    raw_message = ast.literal_eval(message) if message[:2] in ("b'", 'b"') else message.encode()
    reason = raw_message.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip(".") or "invalid JSON"
    if "premature EOF" in reason:
        offset = len(reader.chunk)
    else:
        offset = _error_offset_in_chunk(raw_message, reader.chunk)
    if offset is None:
        start, end = reader.chunk_start, reader.chunk_start + len(reader.chunk)
        return ImportFileError("", f"not valid JSON: {reason}, between bytes {start:,} and {end:,}")
    position = reader.chunk_start + offset
    line = reader.newlines_before + reader.chunk.count(b"\n", 0, offset) + 1
    newline_at = reader.chunk.rfind(b"\n", 0, offset)
    column = offset - newline_at if newline_at >= 0 else position - reader.last_newline
    # "near": yajl reports where it noticed the problem, at the offending byte or just after it.
    return ImportFileError(
        "", f"not valid JSON: {reason} near byte {position:,} (line {line:,}, column {column:,})"
    )


def _error_offset_in_chunk(message: bytes, chunk: bytes) -> int | None:
    """Where in ``chunk`` yajl's verbose error points, or None when that is not certain.

    yajl quotes up to 30 bytes either side of the error (newlines shown as spaces), left-padded so
    that the error falls on column 40 under its "(right here) ------^" arrow; find that window.
    """
    lines = message.split(b"\n")
    if len(lines) < 3 or lines[2].find(b"^") != 40 or len(lines[1]) < 40:
        return None
    window, text = lines[1], chunk.translate(_NEWLINES_TO_SPACES)
    after = len(window) - 40

    def fits(offset: int) -> bool:  # the window ends 30 bytes after the error or where the chunk does
        return after == min(30, len(text) - offset)

    candidates = [  # an error in the first 30 bytes: less text before it, more padding
        offset for offset in range(min(30, len(text) + 1))
        if not window[: 40 - offset].strip(b" ") and text[: offset + after] == window[40 - offset:]
        and fits(offset)
    ]
    start = text.find(window[10:])
    while start >= 0 and len(candidates) < 2:
        if fits(start + 30):
            candidates.append(start + 30)
        start = text.find(window[10:], start + 1)
    return candidates[0] if len(candidates) == 1 else None
