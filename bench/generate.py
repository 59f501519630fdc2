#!/usr/bin/env python
"""Generate Loupe benchmark data: a folder tree of Encord-format import JSON files.

    python bench/generate.py --items N [--embedding-size D] [--out DIR] [--seed S] [--folders F]
                             [--media-metadata/--no-media-metadata] [--files-per-json K]

Writes into DIR (default ``var/bench/<N>`` under the project root):

- ``schema.json``: the v2 metadata schema body (encord-compat.md) for the keys the entries carry.
- ``folders.json``: the folder tree, parents before children, with the item count of each leaf.
- ``imports/<folder path with / as __>[.part-NNN].json``: the import files, one per leaf folder,
  split so that no file holds more than K entries (import-format.md allows 500,000).
- ``manifest.json``: every import file with its folder, entry counts per type, URL, frame and vector
  counts and size, plus the totals.

Entries are made in chunks with numpy and written as JSON text as they are made, so memory stays flat
at any N. The same arguments give byte-identical output. Needs only numpy; imports nothing from Django.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUCKET_URL = "s3://loupe-bench"

MAX_ENTRIES_PER_FILE = 500_000  # import-format.md: a file with more entries is rejected
MAX_URLS_PER_FILE = 1_000_000  # import-format.md
MAX_EMBEDDING_SIZE = 4096  # metadata.md
ENTRY_CHUNK = 8192  # entries built per numpy batch: amortises the numpy calls, keeps memory small
VECTOR_TEXT_BUDGET = 16_000_000  # characters of vector text per batch (~8 per component): bounds memory

# (kind, share of items). The kinds are the manifest's count keys; image sequences are written
# into the file's "image_groups" array with createVideo true.
KIND_SHARES = (
    ("images", 0.70), ("videos", 0.15), ("audio", 0.05), ("pdf", 0.03), ("text", 0.03),
    ("image_groups", 0.02), ("image_sequences", 0.01), ("dicom_series", 0.01),
)
KINDS = tuple(kind for kind, _ in KIND_SHARES)
FILE_SECTIONS = (
    ("images", ("images",)), ("videos", ("videos",)), ("audio", ("audio",)), ("pdf", ("pdf",)),
    ("text", ("text",)), ("image_groups", ("image_groups", "image_sequences")),
    ("dicom_series", ("dicom_series",)),
)

WEATHER = ("sunny", "cloudy", "rain", "snow", "fog")
WEATHER_P = (0.45, 0.30, 0.14, 0.05, 0.06)
SCHEMA_BODY = {
    "reviewed": {"ty": "boolean"},
    "score": {"ty": "number"},
    "captured_at": {"ty": "datetime"},
    "session_id": {"ty": "uuid"},
    "camera": {"ty": "varchar", "max_length": 64},
    "caption": {"ty": "text"},
    "weather": {"ty": "enum", "values": sorted(WEATHER)},
    "location": {"ty": "geospatial"},
}
EMBEDDING_KEY = "clip"

# (name, latitude, longitude, UTC offset in minutes). Sites sit in a city; so do their items.
CITIES = (
    ("Algiers", 36.7538, 3.0588, 60), ("Lisbon", 38.7223, -9.1393, 0), ("Berlin", 52.5200, 13.4050, 60),
    ("New York", 40.7128, -74.0060, -300), ("Sao Paulo", -23.5505, -46.6333, -180),
    ("Tokyo", 35.6762, 139.6503, 540), ("Sydney", -33.8688, 151.2093, 600),
    ("Nairobi", -1.2921, 36.8219, 180), ("Mumbai", 19.0760, 72.8777, 330),
    ("Vancouver", 49.2827, -123.1207, -480),
)
CITY_LAT = np.array([c[1] for c in CITIES])
CITY_LON = np.array([c[2] for c in CITIES])
LOCATION_SPREAD_DEG = 0.04  # ~4 km: a site's cameras cluster around its city
PERIOD_START = np.datetime64("2023-01-01T00:00:00", "s")
PERIOD_MONTHS = 24  # captured_at spreads over two years

CAMERAS = np.array([
    f"{model}-{n:02d}"
    for model in ("axis-p1448", "axis-q1615", "hik-ds2cd", "dahua-ipc", "bosch-flexidome",
                  "hanwha-xnv", "mobotix-m16", "gopro-hero9", "dji-mavic3", "pixel-7")
    for n in range(1, 6)
])
CAMERA_P = 1.0 / np.arange(1, len(CAMERAS) + 1) ** 1.1
CAMERA_P /= CAMERA_P.sum()

CAPTION_SUBJECTS = np.array([
    "A white van", "A red car", "Two pedestrians", "A cyclist", "A delivery truck", "A bus",
    "A forklift", "A man with a dog", "A group of people", "A motorbike", "An empty street",
    "A parked taxi", "A child on a scooter", "A police car", "A tractor", "A woman carrying boxes",
    "A crowd", "A black SUV", "An ambulance", "A street sweeper",
])
CAPTION_ACTIONS = np.array([
    "waiting", "turning left", "turning right", "crossing", "parked", "stopped", "moving slowly",
    "speeding", "reversing", "loading goods", "passing by", "queueing",
])
CAPTION_PLACES = np.array([
    "at the gate", "near the loading dock", "at the intersection", "on the ramp", "by the entrance",
    "in the car park", "on the main road", "next to the fence", "under the bridge", "at the crossing",
    "in the yard", "outside the warehouse",
])
CAPTION_TAILS = np.array([
    "", "", "", "", " at night", " in heavy rain", " at dawn", " during rush hour",
    " with headlights on", ", partly occluded", ", seen from above", " in low light", ", blurred",
])

# (width, height, share)
IMAGE_SIZES = ((1920, 1080, 0.35), (1280, 720, 0.20), (3840, 2160, 0.10), (2048, 1536, 0.10),
               (1024, 768, 0.10), (640, 480, 0.10), (4032, 3024, 0.05))
VIDEO_SIZES = ((1920, 1080, 0.45), (1280, 720, 0.30), (3840, 2160, 0.10), (640, 480, 0.10),
               (1080, 1920, 0.05))
VIDEO_FPS = (("25", 0.30), ("30", 0.35), ("29.97", 0.10), ("24", 0.05), ("60", 0.10), ("15", 0.10))
VIDEO_CONTAINERS = (("video/mp4", "mp4", 0.85), ("video/webm", "webm", 0.10),
                    ("video/quicktime", "mov", 0.05))
# (codec, mime type, extension, kbit/s or None for PCM-derived, share)
AUDIO_CODECS = (("mp3", "audio/mpeg", "mp3", 192, 0.45), ("pcm_s16le", "audio/wav", "wav", None, 0.30),
                ("flac", "audio/flac", "flac", None, 0.10), ("aac", "audio/mp4", "m4a", 128, 0.15))
AUDIO_SAMPLE_RATES = ((16000, 0.2), (22050, 0.1), (44100, 0.4), (48000, 0.3))
CAMEL_CASE_SHARE = 0.10  # media blocks may use camelCase keys (import-format.md); exercise both
UNTITLED_SHARE = 0.10  # entries without a title get the URL path as their title
ENCORD_BLOCK_SHARE = 0.20  # videos with an $encord block of per-frame metadata

# Vector components are rounded to 4 decimal places and formatted through a lookup table of the
# 20,001 possible strings: 6-10x faster than repr() or "%.4g" per float (see bench/README.md).
VECTOR_SCALE = 10_000
VECTOR_TEXT = np.array([repr(round(i / VECTOR_SCALE, 4)) for i in range(-VECTOR_SCALE, VECTOR_SCALE + 1)],
                       dtype=object)
SCORE_TEXT = VECTOR_TEXT[VECTOR_SCALE:]  # "0.0" .. "1.0" in steps of 0.0001
VECTOR_CLUSTERS = 64
VECTOR_SPREAD = 0.6  # noise norm relative to the unit centre: cosine to its centre ~0.86


@dataclass(frozen=True)
class Leaf:
    """A leaf folder: where items go, and what makes its items alike."""

    path: str
    city: int
    camera: int
    start: int  # captured_at range, epoch seconds [start, end)
    end: int
    clusters: tuple[int, ...]
    session_length: int


@dataclass(frozen=True)
class FilePlan:
    index: int
    name: str
    leaf: Leaf
    first_number: int  # items in a folder are numbered across its files
    counts: dict[str, int]


@dataclass
class Options:
    items: int
    embedding_size: int
    out: Path
    seed: int
    folders: int
    media_metadata: bool
    files_per_json: int
    skip_duplicate_urls: bool


@dataclass
class Summary:
    out: Path
    files: int
    counts: dict[str, int]
    urls: int = 0
    frames: int = 0
    vectors: int = 0
    import_bytes: int = 0
    total_bytes: int = 0
    seconds: float = 0.0
    folder_count: int = 0
    leaf_count: int = 0


@dataclass
class FileStats:
    urls: int = 0
    frames: int = 0
    vectors: int = 0


@dataclass
class FileContext:
    """What the entry builders of one import file share."""

    rng: np.random.Generator
    leaf: Leaf
    seed: int
    media_metadata: bool
    vectors: ClusteredVectors | None
    base_url: str
    stats: FileStats = field(default_factory=FileStats)
    sessions: dict[int, str] = field(default_factory=dict)


class ClusteredVectors:
    """Unit vectors around 64 unit cluster centres (uniform random vectors are an ANN worst case)."""

    def __init__(self, *, seed: int, size: int) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 2, size]))
        centres = rng.standard_normal((VECTOR_CLUSTERS, size))
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        weights = rng.gamma(1.0, size=VECTOR_CLUSTERS)
        self.weights = weights / weights.sum()
        self.size = size
        self.chunk = max(64, min(ENTRY_CHUNK, VECTOR_TEXT_BUDGET // (8 * size)))

    def texts(self, rng: np.random.Generator, leaf: Leaf, n: int) -> list[str]:
        """n vectors as JSON arrays; 60% come from the leaf's favourite clusters."""
        favourite = np.asarray(leaf.clusters)[rng.integers(0, len(leaf.clusters), n)]
        anywhere = rng.choice(VECTOR_CLUSTERS, n, p=self.weights)
        picked = np.where(rng.random(n) < 0.6, favourite, anywhere)
        out: list[str] = []
        for lo in range(0, n, self.chunk):
            part = picked[lo:lo + self.chunk]
            noise = rng.standard_normal((len(part), self.size)) * (VECTOR_SPREAD / math.sqrt(self.size))
            v = self.centres[part] + noise
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            q = np.rint(v * VECTOR_SCALE).astype(np.intp)
            q += VECTOR_SCALE
            np.clip(q, 0, 2 * VECTOR_SCALE, out=q)
            out.extend("[" + s + "]" for s in map(",".join, VECTOR_TEXT[q].tolist()))
        return out


def apportion(total: int, weights) -> list[int]:
    """Split total into integers proportional to weights (largest remainder); they sum to total."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: total - int(counts.sum())]] += 1
    return counts.tolist()


def weighted_pick(rng: np.random.Generator, table, n: int) -> np.ndarray:
    """Indices into table, whose rows end with their share."""
    p = np.array([row[-1] for row in table], dtype=float)
    return rng.choice(len(table), n, p=p / p.sum())


# ---------------------------------------------------------------- planning


def folder_tree_build(rng: np.random.Generator, sites: int) -> tuple[list[dict], list[Leaf]]:
    """site-NN / cam-K [/ YYYY-MM]: a cam folder is either a leaf or holds 1-3 month leaves."""
    folders: list[dict] = []
    leaves: list[Leaf] = []
    city_order = rng.permutation(len(CITIES))
    for s in range(sites):
        site = f"site-{s:02d}"
        city = int(city_order[s % len(CITIES)])
        folders.append({"path": site, "parent": None})
        for c in range(1, int(rng.integers(2, 5)) + 1):
            cam = f"{site}/cam-{c}"
            folders.append({"path": cam, "parent": site})
            if rng.random() < 0.25:
                months = [None]
            else:
                months = sorted(rng.choice(PERIOD_MONTHS, int(rng.integers(1, 4)), replace=False).tolist())
            for month in months:
                path = cam if month is None else f"{cam}/{month_label(month)}"
                if month is not None:
                    folders.append({"path": path, "parent": cam})
                leaves.append(Leaf(
                    path=path, city=city, camera=int(rng.integers(0, len(CAMERAS))),
                    start=month_epoch(0 if month is None else month),
                    end=month_epoch(PERIOD_MONTHS if month is None else month + 1),
                    clusters=tuple(rng.choice(VECTOR_CLUSTERS, 4, replace=False).tolist()),
                    session_length=int(rng.integers(50, 500)),
                ))
    return folders, leaves


def month_label(month: int) -> str:
    return str(np.datetime64("2023-01", "M") + month)


def month_epoch(month: int) -> int:
    return int((np.datetime64("2023-01", "M") + month).astype("datetime64[s]").astype(np.int64))


def file_plans_build(
    rng: np.random.Generator, leaves: list[Leaf], opts: Options,
) -> tuple[list[FilePlan], list[int]]:
    """Items per leaf (gamma-weighted), files per leaf (at most files_per_json entries), kinds per file.

    The global kind counts are exact shares of N; each file draws its kinds from what remains
    (multivariate hypergeometric), so files vary like real folders but the totals are exact.
    """
    leaf_items = apportion(opts.items, rng.gamma(2.0, size=len(leaves)))
    remaining = np.array(apportion(opts.items, [share for _, share in KIND_SHARES]), dtype=np.int64)
    plans: list[FilePlan] = []
    for leaf, count in zip(leaves, leaf_items):
        if count == 0:
            continue
        parts = math.ceil(count / opts.files_per_json)
        stem = leaf.path.replace("/", "__")
        first = 0
        for part, size in enumerate(apportion(count, [1] * parts), start=1):
            drawn = rng.multivariate_hypergeometric(remaining, size)
            remaining -= drawn
            name = f"{stem}.part-{part:03d}.json" if parts > 1 else f"{stem}.json"
            plans.append(FilePlan(index=len(plans), name=name, leaf=leaf, first_number=first,
                                  counts=dict(zip(KINDS, drawn.tolist()))))
            first += size
    return plans, leaf_items


# ---------------------------------------------------------------- client metadata


def client_metadata_texts(ctx: FileContext, numbers: np.ndarray) -> list[str]:
    """The 8 schema keys of each entry as JSON object members (no braces)."""
    rng, leaf, n = ctx.rng, ctx.leaf, len(numbers)
    reviewed = np.where(rng.random(n) < 0.30, "true", "false").tolist()
    score_q = np.rint(np.clip(rng.normal(0.72, 0.15, n), 0.0, 1.0) * VECTOR_SCALE).astype(np.intp)
    score = SCORE_TEXT[score_q].tolist()
    captured = captured_at_texts(rng, leaf, n)
    sessions = session_id_texts(ctx, numbers)
    camera = CAMERAS[np.where(rng.random(n) < 0.7, leaf.camera, rng.choice(len(CAMERAS), n, p=CAMERA_P))]
    caption = caption_texts(rng, n)
    weather = np.array(WEATHER)[rng.choice(len(WEATHER), n, p=WEATHER_P)].tolist()
    lat, lon = location_arrays(rng, leaf, n)
    return [
        f'"reviewed":{r},"score":{s},"captured_at":"{t}","session_id":"{u}","camera":"{c}",'
        f'"caption":"{p}","weather":"{w}","location":{{"latitude":{la:.6f},"longitude":{lo:.6f}}}'
        for r, s, t, u, c, p, w, la, lo in zip(
            reviewed, score, captured, sessions, camera.tolist(), caption, weather,
            lat.tolist(), lon.tolist())
    ]


def captured_at_texts(rng: np.random.Generator, leaf: Leaf, n: int) -> list[str]:
    """ISO 8601 within the leaf's period: 55% with Z, 20% without offset (UTC), 25% in the city's
    local time with its offset; 10% carry milliseconds."""
    offset_min = CITIES[leaf.city][3]
    style = rng.choice(3, n, p=(0.55, 0.20, 0.25))
    seconds = rng.integers(leaf.start, leaf.end, n) + np.where(style == 2, offset_min * 60, 0)
    millis = seconds * 1000 + rng.integers(0, 1000, n)
    with_ms = rng.random(n) < 0.10
    text = np.where(
        with_ms,
        np.datetime_as_string(millis.astype("datetime64[ms]"), unit="ms"),
        np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"),
    )
    sign = "+" if offset_min >= 0 else "-"
    local = f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    suffix = np.array(["Z", "", local])[style]
    return [t + z for t, z in zip(text.tolist(), suffix.tolist())]


def session_id_texts(ctx: FileContext, numbers: np.ndarray) -> list[str]:
    """Consecutive items of a folder share a session; one session in ten is written upper-case."""
    keys = numbers // ctx.leaf.session_length
    for key in np.unique(keys).tolist():
        if key not in ctx.sessions:
            digest = hashlib.blake2b(f"{ctx.seed}/{ctx.leaf.path}/{key}".encode(), digest_size=16).digest()
            text = str(uuid.UUID(bytes=digest, version=4))
            ctx.sessions[key] = text.upper() if digest[0] < 26 else text
    return [ctx.sessions[k] for k in keys.tolist()]


def caption_texts(rng: np.random.Generator, n: int) -> list[str]:
    parts = (CAPTION_SUBJECTS, CAPTION_ACTIONS, CAPTION_PLACES, CAPTION_TAILS)
    s, a, p, t = (words[rng.integers(0, len(words), n)].tolist() for words in parts)
    return [f"{w} {x} {y}{z}" for w, x, y, z in zip(s, a, p, t)]


def location_arrays(rng: np.random.Generator, leaf: Leaf, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Around the leaf's city; 5% around another city (mobile cameras)."""
    city = np.where(rng.random(n) < 0.95, leaf.city, rng.integers(0, len(CITIES), n))
    lat = np.clip(CITY_LAT[city] + rng.normal(0, LOCATION_SPREAD_DEG, n), -90, 90)
    lon_spread = LOCATION_SPREAD_DEG / np.cos(np.radians(CITY_LAT[city]))
    lon = np.clip(CITY_LON[city] + rng.normal(0, 1, n) * lon_spread, -180, 180)
    return lat, lon


# ---------------------------------------------------------------- entries per kind


def entry_heads(ctx: FileContext, numbers: np.ndarray, extensions: list[str]) -> list[str]:
    """objectUrl and (for 90%) title of single-file entries."""
    untitled = (ctx.rng.random(len(numbers)) < UNTITLED_SHARE).tolist()
    ctx.stats.urls += len(numbers)
    heads = []
    for num, ext, bare in zip(numbers.tolist(), extensions, untitled):
        file_name = f"{num:06d}.{ext}"
        url = f'"objectUrl":"{ctx.base_url}/{file_name}"'
        heads.append(url if bare else f'{url},"title":"{file_name}"')
    return heads


def image_entries(ctx: FileContext, numbers: np.ndarray) -> list[str]:
    rng, n = ctx.rng, len(numbers)
    png = rng.random(n) < 0.15
    heads = entry_heads(ctx, numbers, np.where(png, "png", "jpg").tolist())
    meta = client_metadata_texts(ctx, numbers)
    if ctx.vectors is not None:
        clips = ctx.vectors.texts(rng, ctx.leaf, n)
        ctx.stats.vectors += n
        meta = [f'{m},"{EMBEDDING_KEY}":{c}' for m, c in zip(meta, clips)]
    if not ctx.media_metadata:
        return [f'{{{h},"clientMetadata":{{{m}}}}}' for h, m in zip(heads, meta)]
    size = weighted_pick(rng, IMAGE_SIZES, n)
    width = np.array([s[0] for s in IMAGE_SIZES])[size]
    height = np.array([s[1] for s in IMAGE_SIZES])[size]
    bytes_per_pixel = np.where(png, 1.6, 0.22) * rng.lognormal(0, 0.3, n)
    file_size = (width * height * bytes_per_pixel).astype(np.int64) + 1024
    media = media_blocks(rng, "imageMetadata", {
        "mime_type": np.where(png, '"image/png"', '"image/jpeg"').tolist(),
        "file_size": file_size.tolist(), "width": width.tolist(), "height": height.tolist(),
    })
    return [f'{{{h},{b},"clientMetadata":{{{m}}}}}' for h, b, m in zip(heads, media, meta)]


def media_blocks(rng: np.random.Generator, name: str, columns: dict[str, list]) -> list[str]:
    """One media-metadata block per entry from columns of ready JSON values; 10% with camelCase keys."""
    keys = list(columns)
    camel_keys = [k.split("_")[0] + "".join(p.title() for p in k.split("_")[1:]) for k in keys]
    snake = "".join(f'"{k}":{{}},' for k in keys)[:-1]
    camel = "".join(f'"{k}":{{}},' for k in camel_keys)[:-1]
    n = len(columns[keys[0]])
    use_camel = (rng.random(n) < CAMEL_CASE_SHARE).tolist()
    return [f'"{name}":{{' + (camel if c else snake).format(*row) + "}"
            for c, row in zip(use_camel, zip(*columns.values()))]


def video_entries(ctx: FileContext, numbers: np.ndarray) -> list[str]:
    rng, n = ctx.rng, len(numbers)
    container = weighted_pick(rng, VIDEO_CONTAINERS, n)
    heads = entry_heads(ctx, numbers, [VIDEO_CONTAINERS[c][1] for c in container.tolist()])
    meta = client_metadata_texts(ctx, numbers)
    fps_pick = weighted_pick(rng, VIDEO_FPS, n)
    fps = np.array([float(f[0]) for f in VIDEO_FPS])[fps_pick]
    duration = np.round(np.clip(rng.lognormal(math.log(30), 0.9, n), 1.0, 1800.0), 2)
    encord = encord_blocks(ctx, fps, duration)
    meta = [m if e is None else f'{m},"$encord":{e}' for m, e in zip(meta, encord)]
    if not ctx.media_metadata:
        return [f'{{{h},"clientMetadata":{{{m}}}}}' for h, m in zip(heads, meta)]
    size = weighted_pick(rng, VIDEO_SIZES, n)
    width = np.array([s[0] for s in VIDEO_SIZES])[size]
    height = np.array([s[1] for s in VIDEO_SIZES])[size]
    bits_per_second = width * height * fps * 0.07 * rng.lognormal(0, 0.3, n)  # ~4 Mbit/s at 1080p30
    media = media_blocks(rng, "videoMetadata", {
        "fps": [VIDEO_FPS[f][0] for f in fps_pick.tolist()], "duration": duration.tolist(),
        "width": width.tolist(), "height": height.tolist(),
        "file_size": (bits_per_second * duration / 8).astype(np.int64).tolist(),
        "mime_type": [f'"{VIDEO_CONTAINERS[c][0]}"' for c in container.tolist()],
    })
    return [f'{{{h},{b},"clientMetadata":{{{m}}}}}' for h, b, m in zip(heads, media, meta)]


def encord_blocks(ctx: FileContext, fps: np.ndarray, duration: np.ndarray) -> list[str | None]:
    """For 20% of videos: config plus 1-5 key frames with their own metadata (and clip vectors)."""
    rng, n = ctx.rng, len(fps)
    chosen = np.flatnonzero(rng.random(n) < ENCORD_BLOCK_SHARE)
    frame_total = np.maximum(1, (fps[chosen] * duration[chosen]).astype(np.int64))
    wanted = rng.integers(1, 6, len(chosen))
    positions = [np.unique((rng.random(k) * t).astype(np.int64)).tolist()
                 for k, t in zip(wanted.tolist(), frame_total.tolist())]
    frame_count = sum(map(len, positions))
    scores = SCORE_TEXT[rng.integers(0, VECTOR_SCALE + 1, frame_count)].tolist()
    vehicles = rng.poisson(3.0, frame_count).tolist()
    clips = ctx.vectors.texts(rng, ctx.leaf, frame_count) if ctx.vectors is not None else None
    sampling = rng.integers(0, 2, len(chosen)).tolist()
    ctx.stats.frames += frame_count
    ctx.stats.vectors += frame_count if clips is not None else 0
    blocks: list[str | None] = [None] * n
    k = 0
    for slot, frames, rate in zip(chosen.tolist(), positions, sampling):
        members = []
        for frame in frames:
            clip = f',"{EMBEDDING_KEY}":{clips[k]}' if clips is not None else ""
            members.append(f'"{frame}":{{"score":{scores[k]},"vehicle_count":{vehicles[k]}{clip}}}')
            k += 1
        blocks[slot] = (f'{{"config":{{"sampling_rate":{rate},"keyframe_mode":"frame"}},'
                        f'"frames":{{{",".join(members)}}}}}')
    return blocks


def audio_entries(ctx: FileContext, numbers: np.ndarray) -> list[str]:
    rng, n = ctx.rng, len(numbers)
    codec = weighted_pick(rng, AUDIO_CODECS, n)
    heads = entry_heads(ctx, numbers, [AUDIO_CODECS[c][2] for c in codec.tolist()])
    meta = client_metadata_texts(ctx, numbers)
    if not ctx.media_metadata:
        return [f'{{{h},"clientMetadata":{{{m}}}}}' for h, m in zip(heads, meta)]
    duration = np.round(np.clip(rng.lognormal(math.log(45), 1.0, n), 1.0, 3600.0), 3)
    rate = np.array([r[0] for r in AUDIO_SAMPLE_RATES])[weighted_pick(rng, AUDIO_SAMPLE_RATES, n)]
    bit_depth = np.where(rng.random(n) < 0.85, 16, 24)
    channels = np.where(rng.random(n) < 0.4, 1, 2)
    pcm_bytes = duration * rate * channels * bit_depth / 8
    kbits = np.array([c[3] or 0 for c in AUDIO_CODECS])[codec]
    compressed = np.array([c[3] is not None for c in AUDIO_CODECS])[codec]
    flac = codec == [c[0] for c in AUDIO_CODECS].index("flac")
    file_size = np.where(compressed, duration * kbits * 125, np.where(flac, 0.6, 1.0) * pcm_bytes) + 44
    media = media_blocks(rng, "audioMetadata", {
        "duration": duration.tolist(), "file_size": file_size.astype(np.int64).tolist(),
        "mime_type": [f'"{AUDIO_CODECS[c][1]}"' for c in codec.tolist()],
        "sample_rate": rate.tolist(), "bit_depth": bit_depth.tolist(),
        "codec": [f'"{AUDIO_CODECS[c][0]}"' for c in codec.tolist()], "num_channels": channels.tolist(),
    })
    return [f'{{{h},{b},"clientMetadata":{{{m}}}}}' for h, b, m in zip(heads, media, meta)]


def document_entries(extension: str):
    def build(ctx: FileContext, numbers: np.ndarray) -> list[str]:
        heads = entry_heads(ctx, numbers, [extension] * len(numbers))
        meta = client_metadata_texts(ctx, numbers)
        return [f'{{{h},"clientMetadata":{{{m}}}}}' for h, m in zip(heads, meta)]
    return build


def multi_file_entries(prefix: str, low: int, high: int, member_name, create_video: bool | None):
    """Entries with objectUrl_0..objectUrl_{k-1}, k in [low, high]."""
    def build(ctx: FileContext, numbers: np.ndarray) -> list[str]:
        sizes = ctx.rng.integers(low, high + 1, len(numbers)).tolist()
        meta = client_metadata_texts(ctx, numbers)
        ctx.stats.urls += sum(sizes)
        flag = "" if create_video is None else f'"createVideo":{"true" if create_video else "false"},'
        entries = []
        for num, size, m in zip(numbers.tolist(), sizes, meta):
            title = f"{prefix}-{num:06d}"
            urls = ",".join(f'"objectUrl_{i}":"{ctx.base_url}/{title}/{member_name(i)}"' for i in range(size))
            entries.append(f'{{"title":"{title}",{flag}{urls},"clientMetadata":{{{m}}}}}')
        return entries
    return build


ENTRY_BUILDERS = {
    "images": image_entries,
    "videos": video_entries,
    "audio": audio_entries,
    "pdf": document_entries("pdf"),
    "text": document_entries("txt"),
    "image_groups": multi_file_entries("grp", 2, 6, lambda i: f"{i}.jpg", False),
    "image_sequences": multi_file_entries("seq", 5, 20, lambda i: f"{i:03d}.jpg", True),
    "dicom_series": multi_file_entries("series", 1, 8, lambda i: f"{i + 1:04d}.dcm", None),
}


# ---------------------------------------------------------------- writing


def import_file_write(path: Path, plan: FilePlan, ctx: FileContext, skip_duplicate_urls: bool) -> None:
    """Write one import file section by section, chunk by chunk."""
    n = sum(plan.counts.values())
    # Kinds are interleaved within the folder's numbering, as files of a real folder are.
    shuffled = ctx.rng.permutation(n) + plan.first_number
    offsets = dict(zip(KINDS, np.cumsum([0] + [plan.counts[k] for k in KINDS]).tolist()))
    with open(path, "w", encoding="ascii", newline="\n", buffering=1 << 20) as out:
        out.write("{")
        section_sep = ""
        for json_key, kinds in FILE_SECTIONS:
            if not sum(plan.counts[k] for k in kinds):
                continue
            out.write(f'{section_sep}"{json_key}": [\n')
            section_sep = ",\n"
            entry_sep = ""
            for kind in kinds:
                numbers = np.sort(shuffled[offsets[kind]:offsets[kind] + plan.counts[kind]])
                for lo in range(0, len(numbers), ENTRY_CHUNK):
                    out.write(entry_sep)
                    out.write(",\n".join(ENTRY_BUILDERS[kind](ctx, numbers[lo:lo + ENTRY_CHUNK])))
                    entry_sep = ",\n"
            out.write("\n]")
        if skip_duplicate_urls:
            out.write(',\n"skip_duplicate_urls": true')
        out.write("}\n")
    if ctx.stats.urls > MAX_URLS_PER_FILE:
        raise ValueError(f"{path.name}: {ctx.stats.urls} URLs, over the {MAX_URLS_PER_FILE} per-file limit")


def json_write(path: Path, data) -> int:
    text = json.dumps(data, indent=2) + "\n"
    path.write_text(text, encoding="ascii")
    return len(text)


def stale_imports_remove(out: Path) -> None:
    """Delete the import files of an earlier run in out (those its manifest lists), nothing else."""
    manifest = out / "manifest.json"
    if not manifest.exists():
        return
    for entry in json.loads(manifest.read_text()).get("files", []):
        stale = out / entry["file"]
        if stale.parent == out / "imports" and stale.suffix == ".json":
            stale.unlink(missing_ok=True)


def generate(opts: Options) -> Summary:
    """Write schema, folder tree, import files and manifest into opts.out; return what was written."""
    started = time.perf_counter()
    plan_rng = np.random.default_rng(np.random.SeedSequence([opts.seed, 0]))
    folders, leaves = folder_tree_build(plan_rng, opts.folders)
    plans, leaf_items = file_plans_build(plan_rng, leaves, opts)
    vectors = ClusteredVectors(seed=opts.seed, size=opts.embedding_size) if opts.embedding_size else None

    (opts.out / "imports").mkdir(parents=True, exist_ok=True)
    stale_imports_remove(opts.out)
    schema = dict(SCHEMA_BODY)
    if opts.embedding_size:
        schema[EMBEDDING_KEY] = {"ty": "embedding", "size": opts.embedding_size, "api": None}
    total_bytes = json_write(opts.out / "schema.json", schema)
    items_by_path = {leaf.path: count for leaf, count in zip(leaves, leaf_items)}
    for folder in folders:
        folder["leaf"] = folder["path"] in items_by_path
        folder["items"] = items_by_path.get(folder["path"], 0)
    total_bytes += json_write(opts.out / "folders.json", {"folders": folders})

    summary = Summary(out=opts.out, files=len(plans), counts=dict.fromkeys(KINDS, 0),
                      folder_count=len(folders), leaf_count=len(leaves))
    manifest_files = []
    for plan in plans:
        ctx = FileContext(
            rng=np.random.default_rng(np.random.SeedSequence([opts.seed, 1, plan.index])), leaf=plan.leaf,
            seed=opts.seed, media_metadata=opts.media_metadata, vectors=vectors,
            base_url=f"{BUCKET_URL}/{plan.leaf.path}",
        )
        path = opts.out / "imports" / plan.name
        import_file_write(path, plan, ctx, opts.skip_duplicate_urls)
        size = path.stat().st_size
        manifest_files.append({
            "file": f"imports/{plan.name}", "folder": plan.leaf.path, "entries": sum(plan.counts.values()),
            "counts": plan.counts, "urls": ctx.stats.urls, "frames": ctx.stats.frames,
            "vectors": ctx.stats.vectors, "bytes": size,
        })
        for kind in KINDS:
            summary.counts[kind] += plan.counts[kind]
        summary.urls += ctx.stats.urls
        summary.frames += ctx.stats.frames
        summary.vectors += ctx.stats.vectors
        summary.import_bytes += size

    manifest = {
        "generator": "bench/generate.py", "seed": opts.seed, "items": opts.items,
        "embedding_size": opts.embedding_size, "media_metadata": opts.media_metadata,
        "files_per_json": opts.files_per_json, "schema": "schema.json", "folders": "folders.json",
        "totals": {"files": len(plans), "entries": opts.items, "counts": summary.counts, "urls": summary.urls,
                   "frames": summary.frames, "vectors": summary.vectors, "bytes": summary.import_bytes},
        "files": manifest_files,
    }
    total_bytes += json_write(opts.out / "manifest.json", manifest)
    summary.total_bytes = total_bytes + summary.import_bytes
    summary.seconds = time.perf_counter() - started
    return summary


# ---------------------------------------------------------------- command line


def int_in_range(low: int, high: int | None = None):
    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}")
        return value
    return parse


def arguments_parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int_in_range(1), required=True, help="number of import entries")
    parser.add_argument("--embedding-size", type=int_in_range(0, MAX_EMBEDDING_SIZE), default=0,
                        help=f'size of the "{EMBEDDING_KEY}" embedding on images and video frames; 0: none')
    parser.add_argument("--out", type=Path, help="output directory (default var/bench/<items>)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folders", type=int_in_range(1, 100),
                        help="top-level folders (default N/100k, 1-20)")
    parser.add_argument("--media-metadata", action=argparse.BooleanOptionalAction, default=True,
                        help="write imageMetadata/videoMetadata/audioMetadata blocks (default on)")
    parser.add_argument("--files-per-json", type=int_in_range(1, MAX_ENTRIES_PER_FILE),
                        default=MAX_ENTRIES_PER_FILE, help="most entries per import file")
    parser.add_argument("--skip-duplicate-urls", action="store_true",
                        help='set "skip_duplicate_urls": true in every import file')
    args = parser.parse_args(argv)
    return Options(
        items=args.items, embedding_size=args.embedding_size,
        out=args.out or PROJECT_ROOT / "var" / "bench" / str(args.items), seed=args.seed,
        folders=args.folders or min(20, max(1, args.items // 100_000)), media_metadata=args.media_metadata,
        files_per_json=args.files_per_json, skip_duplicate_urls=args.skip_duplicate_urls,
    )


def summary_print(summary: Summary) -> None:
    entries = sum(summary.counts.values())
    rate = entries / summary.seconds if summary.seconds else float("inf")
    print(f"wrote {summary.files} import files (+ schema.json, folders.json, manifest.json) to {summary.out}")
    print(f"folders: {summary.folder_count} ({summary.leaf_count} leaves)")
    print("entries: " + ", ".join(f"{kind} {count:,}" for kind, count in summary.counts.items())
          + f" = {entries:,}")
    print(f"urls: {summary.urls:,}  video frames: {summary.frames:,}  vectors: {summary.vectors:,}")
    print(f"bytes: {summary.total_bytes:,} ({summary.total_bytes / 1e6:,.1f} MB)")
    print(f"seconds: {summary.seconds:.1f}  entries/s: {rate:,.0f}  "
          f"MB/s: {summary.total_bytes / 1e6 / summary.seconds:,.1f}")


def main(argv: list[str] | None = None) -> int:
    summary = generate(arguments_parse(argv))
    summary_print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
