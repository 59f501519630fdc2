"""Probing registered files and building the outputs of image groups, image sequences and DICOM series.

An import registers files without reading them; files whose media facts were not supplied are left
``pending`` and these services, run by Celery tasks, read them. What a caller may rely on:

* **Idempotent and crash-safe.** Only ``pending`` items are touched. A single item is claimed with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` in its own transaction and the lock is held while that one
  file is fetched, probed and previewed, so two workers never probe the same item and a worker
  killed half-way leaves the item ``pending`` for the next run. A container is claimed with a
  session-level PostgreSQL advisory lock instead (rendering 32,767 images must not hold a
  transaction open); its children are probed one transaction each, and a re-run skips children
  that are already ``ready`` or ``failed``.
* **Bad files are kept.** A fetch or decode failure makes the item ``failed`` with the fetcher's or
  decoder's sentence in ``status_reason``, and, for items that came from an import job, one
  ``ImportJobError(stage="probe")`` per entry. A preview that cannot be made does not fail an item
  that probed fine: the reason goes to ``media_info["preview_error"]``.
* **Previews** go to Django's default storage under ``previews/<item uuid>/``; ``preview`` holds the
  thumbnail's storage name (image ``thumb.jpg``, video ``poster.jpg`` plus ``frame_NNNNNN.jpg``
  strip frames, PDF ``page_1.jpg``, audio ``waveform.png``, DICOM ``slice.png``); text gets
  ``media_info["snippet"]`` and audio ``media_info["waveform"]`` (column peaks, 0..1).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from apps.storage import hooks, previews
from apps.storage.fetching import FetchError
from apps.storage.models import ImportJob, ImportJobError, Item, ItemStatus, ItemType, StorageIntegration
from apps.storage.probing import ProbeError, dicom_group_series, probe_file
from apps.storage.sequences import SequenceError, render_image_sequence
from apps.storage.services.media_files import (
    local_file_name, preview_name, render_name, storage_put, url_file_to_local,
)

logger = logging.getLogger(__name__)

PROBE_KIND = {
    ItemType.IMAGE: "image", ItemType.VIDEO: "video", ItemType.AUDIO: "audio", ItemType.TEXT: "text",
    ItemType.PDF: "pdf", ItemType.NIFTI: "nifti", ItemType.DICOM_FILE: "dicom",
}
# probe_file key -> Item column; every other key the probe returns goes into media_info.
PROBE_COLUMNS = {
    "width": "width", "height": "height", "fps": "fps", "duration": "duration", "frame_count": "frame_count",
    "codec": "codec", "file_size": "file_size", "mime_type": "mime_type", "sample_rate": "audio_sample_rate",
    "num_channels": "audio_num_channels", "bit_depth": "audio_bit_depth", "page_count": "page_count",
    "study_uid": "dicom_study_uid", "series_uid": "dicom_series_uid", "instance_uid": "dicom_instance_uid",
    "rows": "height", "columns": "width",
}
TEXT_COLUMNS = frozenset({"codec", "mime_type", "dicom_study_uid", "dicom_series_uid", "dicom_instance_uid"})
STRIP_FRAMES = 8  # frames in a video's preview strip: enough to scrub, few enough to load at once
SNIPPET_CHARS = 2000  # what a text item's card and detail page show before "open"
JOB_COUNTS_CACHE = 64  # import files whose per-key entry counts a worker keeps, to rebuild error pointers
ADVISORY_LOCK_BYTES = 8  # the first 8 bytes of a container's uuid key its advisory lock (a bigint)
SEQUENCE_URL_BATCH = 1000  # sequence image URLs read per query while rendering (URLs may be 16 KB each)
SLICE_FIELDS = (
    "pk", "dicom_series_uid", "dicom_study_uid", "dicom_instance_uid", "media_info", "width", "height",
    "preview",
)


# --------------------------------------------------------------------------- single files


def item_probe(*, item_id) -> Item | None:
    """Probe one pending single-file item, store its facts and previews, and mark it ready or failed.

    Returns the item as written, or None when there was nothing to do (gone, not pending, claimed by
    another worker at this moment, or a container, which ``item_container_process`` handles).
    """
    with transaction.atomic():
        item = (
            Item.objects.select_for_update(skip_locked=True, of=("self",)).select_related("integration")
            .filter(pk=item_id, status=ItemStatus.PENDING).first()
        )
        if item is None:
            logger.info("item %s is gone, not pending or being probed elsewhere; nothing to do", item_id)
            return None
        kind = PROBE_KIND.get(item.item_type)
        if kind is None:
            logger.warning("item %s is a %s, not a single file; it is not probed", item_id, item.item_type)
            return None
        with tempfile.TemporaryDirectory(prefix="loupe-probe-") as directory:
            workdir = Path(directory)
            try:
                local = url_file_to_local(url=item.url, integration=item.integration, directory=workdir,
                                          organisation_id=item.organisation_id)
                facts = probe_file(local, kind=kind)
            except (FetchError, ProbeError) as exc:
                _item_fail(item, reason=str(exc))
                return item
            changed = _apply_facts(item, facts)
            changed |= _make_previews(item, kind=kind, source=local, workdir=workdir / "previews")
        item.status, item.status_reason, item.media_source = ItemStatus.READY, "", "probed"
        item.updated_at = timezone.now()
        changed |= {"media_info", "status", "status_reason", "media_source", "updated_at"}
        item.save(update_fields=sorted(changed))
    return item


def _apply_facts(item: Item, facts: dict) -> set[str]:
    """Copy probe facts onto typed columns; the rest (format, encoding, DICOM tags...) into media_info."""
    changed: set[str] = set()
    extras = {}
    for key, value in facts.items():
        column = PROBE_COLUMNS.get(key)
        if column is None:
            if value is not None:
                extras[key] = value
            continue
        setattr(item, column, "" if value is None and column in TEXT_COLUMNS else value)
        changed.add(column)
    item.media_info = {**item.media_info, **extras}
    return changed


def _item_fail(item: Item, *, reason: str) -> None:
    item.status, item.status_reason, item.updated_at = ItemStatus.FAILED, reason, timezone.now()
    item.save(update_fields=["status", "status_reason", "updated_at"])
    _record_probe_error(item, reason=reason, urls=[item.url])


# --------------------------------------------------------------------------- previews


def _make_previews(item: Item, *, kind: str, source: Path, workdir: Path) -> set[str]:
    """Make the item's previews; a failure is recorded in media_info, never raised."""
    maker = _PREVIEW_MAKERS.get(kind)
    if maker is None:
        return set()
    try:
        return maker(item, source, workdir)
    except (previews.PreviewError, OSError) as exc:  # OSError: local disk or media storage
        reason = getattr(exc, "reason", None) or str(exc)
        logger.warning("no preview for item %s: %s", item.pk, reason)
        item.media_info = {**item.media_info, "preview_error": reason}
        return set()


def _image_preview(item: Item, source: Path, workdir: Path) -> set[str]:
    _size, item.phash = previews.image_thumbnail_hashed(source=source, dest=workdir / "thumb.jpg")
    item.preview = _put_preview(item, workdir / "thumb.jpg")
    return {"preview", "phash"}


def _video_preview(item: Item, source: Path, workdir: Path) -> set[str]:
    item.preview, item.preview_frames = _video_poster_and_strip(item, source, workdir)
    return {"preview", "preview_frames", "phash"}


def _video_poster_and_strip(item: Item, source: Path, workdir: Path) -> tuple[str, list[dict]]:
    """Store a video's poster and strip frames; return (poster name, [{frame, time, path}]).

    Sets ``item.phash`` to the poster's hash and hands the strip frames' hashes to the
    ``video_frame_hashes_store`` hook (the similarity app keeps them), in the caller's transaction.
    """
    item.phash, strip = previews.video_previews(source=source, dest_dir=workdir, count=STRIP_FRAMES)
    frames = [{"frame": e["frame"], "time": e["time"], "path": _put_preview(item, e["path"])} for e in strip]
    hooks.video_frame_hashes_store(item, {e["frame"]: e["phash"] for e in strip})
    return _put_preview(item, workdir / previews.POSTER_NAME), frames


def _pdf_preview(item: Item, source: Path, workdir: Path) -> set[str]:
    previews.pdf_first_page(source=source, dest=workdir / "page_1.jpg")
    item.preview = _put_preview(item, workdir / "page_1.jpg")
    return {"preview"}


def _audio_preview(item: Item, source: Path, workdir: Path) -> set[str]:
    peaks = previews.audio_waveform(source=source, dest_png=workdir / "waveform.png")
    item.media_info = {**item.media_info, "waveform": peaks}
    item.preview = _put_preview(item, workdir / "waveform.png")
    return {"preview"}


def _text_preview(item: Item, source: Path, workdir: Path) -> set[str]:
    snippet = previews.text_snippet(source=source, max_chars=SNIPPET_CHARS)
    item.media_info = {**item.media_info, "snippet": snippet}
    return set()


def _dicom_preview(item: Item, source: Path, workdir: Path) -> set[str]:
    # Window center/width left None: the file's own WindowCenter/WindowWidth tags decide.
    previews.dicom_slice_image(source=source, dest=workdir / "slice.png")
    item.preview = _put_preview(item, workdir / "slice.png")
    return {"preview"}


def _put_preview(item: Item, local: Path) -> str:
    return storage_put(local_path=local, name=preview_name(item.pk, local.name))


_PREVIEW_MAKERS = {
    "image": _image_preview, "video": _video_preview, "pdf": _pdf_preview, "audio": _audio_preview,
    "text": _text_preview, "dicom": _dicom_preview,
}


# --------------------------------------------------------------------------- import job errors


def _record_probe_error(item: Item, *, reason: str, urls: list[str]) -> None:
    """One ImportJobError(stage="probe") per import entry; a second failure in the same entry is dropped."""
    if item.import_job_id is None:
        return
    if item.parent_id is None:
        index, single = item.import_index, item.item_type not in ItemType.containers()
    else:
        index = Item.objects.filter(pk=item.parent_id).values_list("import_index", flat=True).first()
        single = False
    if index is None:
        return
    error = ImportJobError(
        job_id=item.import_job_id, entry_index=index, stage="probe", reason=reason, urls=urls,
        pointer=entry_pointer(job_id=item.import_job_id, index=index, single_file=single),
    )
    ImportJobError.objects.bulk_create([error], ignore_conflicts=True)


def entry_pointer(*, job_id, index: int, single_file: bool) -> str:
    """The JSON pointer of entry ``index`` of a job's file (``/videos/17/objectUrl``, ``/dicom_series/2``).

    Rebuilt from the per-key entry counts of the stored file (entries are numbered in file order
    across keys); "" when the file is gone or unreadable.
    """
    first = 0
    for data_key, count in _job_entry_counts(str(job_id)):
        if index < first + count:
            pointer = f"/{data_key}/{index - first}"
            return f"{pointer}/objectUrl" if single_file else pointer
        first += count
    return ""


@functools.lru_cache(maxsize=JOB_COUNTS_CACHE)
def _job_entry_counts(job_id: str) -> tuple[tuple[str, int], ...]:
    # A stored import file never changes, so one streaming scan per job per worker is enough.
    job = ImportJob.objects.filter(pk=job_id).only("source").first()
    if job is None or not job.source:
        return ()
    try:
        with job.source.open("rb") as handle:
            counts = hooks.import_file_entry_counts(handle)
    except (OSError, ValueError) as exc:
        logger.warning("cannot read the file of import job %s to rebuild pointers: %s", job_id, exc)
        return ()
    return tuple(counts.items())


# --------------------------------------------------------------------------- containers


def item_container_process(*, item_id) -> Item | None:
    """Probe a pending group's, sequence's or series' children, then build the container's own outputs.

    The container becomes ``ready`` when at least one child is ready (``media_info`` counts the
    failed ones) and ``failed`` when none is. Returns the container as written, or None when there
    was nothing to do (gone, not pending, or being processed by another worker right now).
    """
    parent = Item.objects.filter(pk=item_id).first()
    if parent is None or parent.status != ItemStatus.PENDING:
        logger.info("container %s is gone or not pending; nothing to do", item_id)
        return None
    if parent.item_type not in _CONTAINER_BUILDERS:
        logger.warning("item %s is a %s, not a container; not processed here", item_id, parent.item_type)
        return None
    with _container_claim(parent.pk) as claimed:
        if not claimed:
            logger.info("container %s is being processed by another worker", item_id)
            return None
        children = Item.objects.filter(parent=parent)
        pending = children.filter(status=ItemStatus.PENDING).order_by("position").values_list("pk", flat=True)
        for child_id in pending:
            item_probe(item_id=child_id)
        if children.filter(status=ItemStatus.PENDING).exists():
            logger.warning("container %s still has pending children; left pending for a later run", item_id)
            return None
        total = children.count()
        failed = children.filter(status=ItemStatus.FAILED).count()
        if failed == total:
            return _container_fail(parent, reason=_none_readable_reason(parent, total))
        build = _CONTAINER_BUILDERS[parent.item_type]
        return build(parent, {"child_count": total, "failed_children": failed})


@contextlib.contextmanager
def _container_claim(item_id) -> Iterator[bool]:
    """A session-level advisory lock on the container: held across many short transactions, and
    released by PostgreSQL itself if the worker's connection dies."""
    key = int.from_bytes(uuid.UUID(str(item_id)).bytes[:ADVISORY_LOCK_BYTES], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        claimed = cursor.fetchone()[0]
    try:
        yield claimed
    finally:
        if claimed:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _none_readable_reason(parent: Item, total: int) -> str:
    if total == 0:
        return "It has no files."
    first = (
        Item.objects.filter(parent=parent, status=ItemStatus.FAILED).order_by("position")
        .values_list("status_reason", flat=True).first()
    )
    if total == 1:
        return f"Its only file could not be read: {first}"
    return f"None of its {total} files could be read; the first error: {first}"


def _ready_children(parent: Item):
    return Item.objects.filter(parent=parent, status=ItemStatus.READY).order_by("position")


def _image_group_build(parent: Item, info: dict) -> Item | None:
    first = _ready_children(parent).only("width", "height").first()
    thumb = _ready_children(parent).exclude(preview="").values_list("preview", flat=True).first() or ""
    return _container_finish(parent, fields={
        "width": first.width, "height": first.height, "preview": thumb,
        "media_info": {**parent.media_info, **info},
    })


def _image_sequence_build(parent: Item, info: dict) -> Item | None:
    """Render the ready images, in position order, into one MP4 and take its poster and strip.

    The images are fetched a second time (the probe pass kept none of them): holding up to 32,767
    images on local disk between the passes is what this avoids.
    """
    child_ids = list(_ready_children(parent).values_list("pk", flat=True))
    with tempfile.TemporaryDirectory(prefix="loupe-sequence-") as directory:
        workdir = Path(directory)
        rendered = workdir / "render.mp4"
        sources = _FetchedImages(child_ids, integration=parent.integration, directory=workdir / "images",
                                 organisation_id=parent.organisation_id)
        try:
            result = render_image_sequence(sources=sources, dest=rendered)
        except SequenceError as exc:
            failed = [sources.url(exc.position)] if exc.position is not None else []
            reason = f"The video could not be rendered: {exc.reason}"
            return _container_fail(parent, reason=reason, urls=failed)
        fields = {
            "width": result["width"], "height": result["height"], "fps": result["fps"],
            "frame_count": result["frame_count"], "duration": result["duration"], "codec": result["codec"],
            "mime_type": "video/mp4", "file_size": rendered.stat().st_size,
            "rendered": storage_put(local_path=rendered, name=render_name(parent.pk)),
        }
        try:
            poster, strip = _video_poster_and_strip(parent, rendered, workdir / "previews")
        except (previews.PreviewError, OSError) as exc:
            info["preview_error"] = getattr(exc, "reason", None) or str(exc)
        else:
            fields.update(preview=poster, preview_frames=strip, phash=parent.phash)
    return _container_finish(parent, fields={**fields, "media_info": {**parent.media_info, **info}})


class _FetchedImages(Sequence):
    """A sequence's images as local paths, each fetched only when the encoder reaches it.

    ``render_image_sequence`` reads ``sources[0]`` first and then walks the list once, in order,
    decoding each path before asking for the next. So each file is deleted as soon as the next one
    is fetched, and local disk holds at most two images whatever the sequence's length; URLs are read
    ``SEQUENCE_URL_BATCH`` at a time. A fetch failure surfaces as a SequenceError naming the
    position, like an undecodable image does.
    """

    def __init__(self, child_ids: list, *, integration: StorageIntegration | None, directory: Path,
                 organisation_id) -> None:
        self.child_ids = child_ids
        self.integration = integration
        self.organisation_id = organisation_id
        self.directory = directory
        self._fetched: dict[int, Path] = {}
        self._urls: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.child_ids)

    def __getitem__(self, position):
        if not isinstance(position, int):
            raise TypeError("fetched images are read one position at a time")
        if position < 0:
            position += len(self.child_ids)
        if not 0 <= position < len(self.child_ids):
            raise IndexError(position)
        return self._fetch(position)

    def __iter__(self) -> Iterator[Path]:
        for position in range(len(self.child_ids)):
            path = self._fetch(position)
            yield path
            self._discard(position)

    def url(self, position: int) -> str:
        if position not in self._urls:
            start = position - position % SEQUENCE_URL_BATCH
            batch = self.child_ids[start:start + SEQUENCE_URL_BATCH]
            by_id = dict(Item.objects.filter(pk__in=batch).values_list("pk", "url"))
            self._urls = {start + offset: by_id[pk] for offset, pk in enumerate(batch)}
        return self._urls[position]

    def _fetch(self, position: int) -> Path:
        if position not in self._fetched:
            url = self.url(position)
            directory = self.directory / f"{position:05d}"
            directory.mkdir(parents=True, exist_ok=True)
            try:
                local = url_file_to_local(url=url, integration=self.integration, directory=directory,
                                          organisation_id=self.organisation_id)
            except FetchError as exc:
                reason = f"image at position {position} ({local_file_name(url)}): {exc}"
                raise SequenceError(reason, position=position) from exc
            self._fetched[position] = local
        return self._fetched[position]

    def _discard(self, position: int) -> None:
        path = self._fetched.pop(position, None)
        if path is not None:
            shutil.rmtree(path.parent, ignore_errors=True)


def _dicom_series_build(parent: Item, info: dict) -> Item | None:
    """Fill the series from its slices; ``media_info["slice_order"]`` lists child uuids in anatomical order.

    Slices are ordered by InstanceNumber (``dicom_sort_key``). Files of several series are all kept:
    the largest series names the parent and comes first in the slice order, and
    ``media_info["series_uids"]`` counts the slices of each.
    """
    slices = [_slice_facts(row) for row in _ready_children(parent).values(*SLICE_FIELDS)]
    groups = dicom_group_series(slices)
    main_uid = max(groups, key=lambda uid: len(groups[uid]))  # the first of the largest, on a tie
    ordered = [main_uid, *(uid for uid in groups if uid != main_uid)]
    middle = groups[main_uid][len(groups[main_uid]) // 2]
    info = {**info, "modality": middle["modality"]}
    info["slice_order"] = [facts["pk"] for uid in ordered for facts in groups[uid]]
    if len(groups) > 1:
        info["series_uids"] = {uid: len(groups[uid]) for uid in ordered}
    return _container_finish(parent, fields={
        "dicom_study_uid": middle["study_uid"] or "", "dicom_series_uid": main_uid,
        "frame_count": len(slices), "width": middle["width"], "height": middle["height"],
        "mime_type": "application/dicom", "preview": middle["preview"],
        "media_info": {**parent.media_info, **info},
    })


def _slice_facts(row: dict) -> dict:
    """A ready dicom_file child as the dict ``dicom_group_series`` and ``dicom_sort_key`` expect."""
    tags = row["media_info"]
    return {
        "pk": str(row["pk"]), "series_uid": row["dicom_series_uid"], "study_uid": row["dicom_study_uid"],
        "instance_uid": row["dicom_instance_uid"], "instance_number": tags.get("instance_number"),
        "modality": tags.get("modality"), "width": row["width"], "height": row["height"],
        "preview": row["preview"],
    }


_CONTAINER_BUILDERS = {
    ItemType.IMAGE_GROUP: _image_group_build,
    ItemType.IMAGE_SEQUENCE: _image_sequence_build,
    ItemType.DICOM_SERIES: _dicom_series_build,
}


def _container_finish(parent: Item, *, fields: dict, status: str = ItemStatus.READY, reason: str = "",
                      urls: list[str] | None = None) -> Item | None:
    """Write the container's outcome under a row lock, unless it stopped being pending meanwhile."""
    with transaction.atomic():
        locked = Item.objects.select_for_update().filter(pk=parent.pk, status=ItemStatus.PENDING).first()
        if locked is None:  # trashed and purged, or finished by someone else meanwhile
            return None
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.status, locked.status_reason, locked.updated_at = status, reason, timezone.now()
        locked.media_source = "probed" if status == ItemStatus.READY else ""
        locked.save(update_fields=[*fields, "status", "status_reason", "media_source", "updated_at"])
        if status == ItemStatus.FAILED:
            _record_probe_error(locked, reason=reason, urls=urls or [])
    return locked


def _container_fail(parent: Item, *, reason: str, urls: list[str] | None = None) -> Item | None:
    return _container_finish(parent, fields={}, status=ItemStatus.FAILED, reason=reason, urls=urls)
