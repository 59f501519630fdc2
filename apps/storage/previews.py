"""Make the small pictures and snippets the Explorer shows for an item.

Django-free, like `probing`: workers call these with local paths and store the results wherever the
storage backend says. Every writer creates parent folders, writes to a temporary name and renames it
into place, so a web request never serves a half-written thumbnail. The output format follows the
destination suffix (.png, .jpg/.jpeg, .webp). Sizes preserve the aspect ratio and never upscale
raster sources (see `fit_within`); PDF pages are vectors and render straight to the requested size.

Failures raise `PreviewError` whose `reason` names the decoder and what failed.
"""

from __future__ import annotations

import codecs
import math
import os
import threading
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pypdfium2 as pdfium
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.pixels import pixel_array as dicom_pixel_array

from apps.storage.phashes import image_phash
from apps.storage.probing import ProbeError, detect_text_encoding, dicom_first_float, dicom_read, probe_file

DEFAULT_MAX_EDGE = 256
FRAME_MAX_EDGE = 1024  # a single frame is opened on its own and viewed large
DICOM_MAX_EDGE = 512  # the usual CT/MR matrix, so slices keep every pixel by default
POSTER_NAME = "poster.jpg"
# The poster is taken 10% into the video: the first frames are often black or a fade-in.
POSTER_POSITION = 0.1
# Within this gap, decoding forward is cheaper than seeking back to a keyframe and decoding again.
SEEK_GAP_SECONDS = 2.0
# Waveform columns are built from per-block peaks; 8 blocks per column keeps column edges within
# 1/8 column of exact while holding only ~8 x width floats for any length of audio.
WAVEFORM_BLOCKS_PER_COLUMN = 8
# Block size when the container states no duration: ~0.1 s at 44.1 kHz, so an hour of audio
# still holds under 40,000 peaks (short clips then get coarser columns).
WAVEFORM_FALLBACK_BLOCK = 4096
WAVEFORM_COLOR = (58, 110, 200, 255)
JPEG_QUALITY = 85
WEBP_QUALITY = 80

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
# PDFium is not thread-safe (pypdfium2's documentation says so); a threaded worker must take turns.
_PDFIUM_LOCK = threading.Lock()


class PreviewError(Exception):
    """A preview could not be made; `reason` names the decoder and what failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def fit_within(*, width: int, height: int, max_edge: int) -> tuple[int, int]:
    """Return (width, height) scaled so the long edge is at most `max_edge`, aspect ratio kept.

    Images already small enough keep their size (no upscaling). The long edge becomes exactly
    `max_edge`; the short edge is rounded half up and never below 1.
    """
    if max_edge < 1:
        raise ValueError(f"max_edge must be at least 1, got {max_edge}")
    long_edge = max(width, height)
    if long_edge <= max_edge:
        return width, height
    return _scale_long_edge(width=width, height=height, long_edge=max_edge)


def _scale_long_edge(*, width: float, height: float, long_edge: int) -> tuple[int, int]:
    scale = long_edge / max(width, height)
    if width >= height:
        return long_edge, max(1, math.floor(height * scale + 0.5))
    return max(1, math.floor(width * scale + 0.5)), long_edge


def image_thumbnail(*, source: Path, dest: Path, max_edge: int = DEFAULT_MAX_EDGE) -> tuple[int, int]:
    """Write a thumbnail of an image file and return its (width, height).

    EXIF orientation is applied (the thumbnail is upright, as the probe's width/height are).
    Palette and alpha modes keep transparency in PNG/WebP and are flattened on white for JPEG;
    CMYK becomes RGB; single-channel 16-bit and float images are stretched min..max to 8 bits.
    """
    return image_thumbnail_hashed(source=source, dest=dest, max_edge=max_edge)[0]


def image_thumbnail_hashed(
    *, source: Path, dest: Path, max_edge: int = DEFAULT_MAX_EDGE
) -> tuple[tuple[int, int], int]:
    """``image_thumbnail``, also returning the pHash (``phashes.image_phash``) of the thumbnail as shown.

    The hash is taken from the upright thumbnail (flattened on white), not the full file: pHash
    scales to 32x32 first, so the result is the same for any size of the same picture, and the file
    is decoded once (at JPEG draft scale) for both.
    """
    try:
        with Image.open(source) as image:
            stored_width, stored_height = image.size
            rotated = image.getexif().get(0x0112) in (5, 6, 7, 8)
            shown = (stored_height, stored_width) if rotated else (stored_width, stored_height)
            target = fit_within(width=shown[0], height=shown[1], max_edge=max_edge)
            # JPEG can decode at 1/2..1/8 scale straight from the DCT, at least as large as asked.
            image.draft(None, (target[1], target[0]) if rotated else target)
            upright = ImageOps.exif_transpose(image)
            displayable = displayable_image(upright)
    except UnidentifiedImageError as exc:
        raise PreviewError(f"Pillow cannot identify image file: {Path(source).name}") from exc
    except Exception as exc:  # Pillow plugins raise OSError, SyntaxError, ValueError... on bad input.
        raise PreviewError(f"Pillow cannot decode image {Path(source).name}: {exc}") from exc
    thumbnail = _resize(displayable, target)
    _save_image(thumbnail, Path(dest))
    return thumbnail.size, image_phash(_flatten_on_white(thumbnail))


def displayable_image(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to L, RGB or RGBA, which every output format can store.

    Palettes keep their transparency as RGBA; CMYK and other colour spaces become RGB;
    single-channel 16-bit, 32-bit and float images are stretched min..max to 8-bit L.
    """
    mode = image.mode
    if mode in ("L", "RGB", "RGBA"):
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _stretch_to_l(np.asarray(image))
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return image.convert("RGBA")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _stretch_to_l(values: np.ndarray) -> Image.Image:
    # High-bit-depth single-channel files are mostly measurements (depth, microscopy, thermal) that
    # use a fraction of their range; a fixed shift to 8 bits would render most of them black.
    data = values.astype(np.float64)
    low, high = float(data.min()), float(data.max())
    if high <= low:
        return Image.fromarray(np.zeros(data.shape, dtype=np.uint8), mode="L")
    scaled = np.rint((data - low) * (255.0 / (high - low)))
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _save_image(image: Image.Image, dest: Path) -> None:
    """Save by suffix through a temporary file renamed into place (atomic on one filesystem)."""
    image_format = _FORMATS.get(dest.suffix.lower())
    if image_format is None:
        raise ValueError(f"unsupported preview suffix {dest.suffix!r}; use one of {', '.join(_FORMATS)}")
    options: dict[str, Any] = {}
    if image_format == "JPEG":
        image = _flatten_on_white(image)
        options = {"quality": JPEG_QUALITY}
    elif image_format == "WEBP":
        options = {"quality": WEBP_QUALITY}
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        image.save(temporary, format=image_format, **options)
        os.replace(temporary, dest)
    finally:
        temporary.unlink(missing_ok=True)


def _flatten_on_white(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


def video_poster_and_strip(
    *, source: Path, dest_dir: Path, count: int = 8, max_edge: int = DEFAULT_MAX_EDGE
) -> list[dict[str, Any]]:
    """Write `dest_dir/poster.jpg` and `count` evenly spaced frames; return the strip frames.

    Strip frame i is the middle frame of the i-th of `count` equal parts of the video, so the first
    (often black) and last frames are skipped. Videos with fewer than `count` frames give every frame.
    Each entry is {"frame": number, "time": seconds, "path": Path to frame_NNNNNN.jpg}, in order.
    Frame numbers follow timestamps (frame n is shown at n / fps), see `_frames_at`.
    """
    return video_previews(source=source, dest_dir=dest_dir, count=count, max_edge=max_edge)[1]


def video_previews(
    *, source: Path, dest_dir: Path, count: int = 8, max_edge: int = DEFAULT_MAX_EDGE
) -> tuple[int, list[dict[str, Any]]]:
    """``video_poster_and_strip`` plus perceptual hashes: returns (poster pHash, strip entries), each
    strip entry also holding its frame's ``"phash"``; hashed from the scaled pictures it writes."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    info = _video_probe(Path(source))
    total = info["frame_count"]
    if total > count:
        strip = {(2 * i + 1) * total // (2 * count) for i in range(count)}
    else:
        strip = set(range(total))
    poster = min(int(total * POSTER_POSITION), total - 1)
    dest_dir = Path(dest_dir)
    entries = []
    poster_hash = None
    for requested, number, seconds, image in _frames_at(Path(source), sorted({*strip, poster}), info["fps"]):
        picture = _resize(image, fit_within(width=image.width, height=image.height, max_edge=max_edge))
        picture_hash = image_phash(picture)
        if requested == poster:
            _save_image(picture, dest_dir / POSTER_NAME)
            poster_hash = picture_hash
        if requested in strip and all(entry["frame"] != number for entry in entries):
            path = dest_dir / f"frame_{number:06d}.jpg"
            _save_image(picture, path)
            entries.append({"frame": number, "time": seconds, "path": path, "phash": picture_hash})
    return poster_hash, entries


def video_frame_image(
    *, source: Path, frame: int, dest: Path, max_edge: int = FRAME_MAX_EDGE
) -> dict[str, Any]:
    """Write frame number `frame` (0-based) to `dest`; return {"frame", "time", "path"}.

    Raises PreviewError when `frame` is outside 0..frame_count-1.
    """
    info = _video_probe(Path(source))
    if not 0 <= frame < info["frame_count"]:
        raise PreviewError(f"frame {frame} is outside this video's frames 0..{info['frame_count'] - 1}")
    for _requested, number, seconds, image in _frames_at(Path(source), [frame], info["fps"]):
        size = fit_within(width=image.width, height=image.height, max_edge=max_edge)
        _save_image(_resize(image, size), Path(dest))
        return {"frame": number, "time": seconds, "path": Path(dest)}
    raise PreviewError(f"PyAV (FFmpeg) decoded no frame at or before frame {frame}")


def _video_probe(source: Path) -> dict[str, Any]:
    try:
        info = probe_file(source, kind="video")
    except ProbeError as exc:
        raise PreviewError(exc.reason) from exc
    if info["frame_count"] < 1 or info["fps"] <= 0:
        raise PreviewError(f"PyAV (FFmpeg) reports no frames or frame rate for {source.name}")
    return info


def _frames_at(
    source: Path, numbers: list[int], fps: float
) -> Iterator[tuple[int, int, float, Image.Image]]:
    """Yield (requested, actual number, seconds, RGB image) for ascending frame `numbers`.

    Seeks (to the keyframe before a target, then decodes forward) only when the next target is more
    than SEEK_GAP_SECONDS ahead; closer targets are reached by decoding on. Frame numbers come from
    timestamps, assuming a constant frame rate; past the real end the last frame stands in, and
    `actual` says which frame was used.
    """
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            frames: Iterator[av.VideoFrame] = iter(())
            current: tuple[int, av.VideoFrame] | None = None
            for target in numbers:
                if current is None or (target - current[0]) / fps > SEEK_GAP_SECONDS:
                    frames, current = _seek(container, stream, target=target, fps=fps, start=start)
                while current is None or current[0] < target:
                    decoded = next(frames, None)
                    if decoded is None:
                        break
                    current = (_frame_number(decoded, start=start, fps=fps, previous=current), decoded)
                if current is None:
                    raise PreviewError(f"PyAV (FFmpeg) decoded no frame for frame {target} of {source.name}")
                yield target, current[0], round(current[0] / fps, 6), _frame_picture(current[1], stream)
    except av.FFmpegError as exc:
        raise PreviewError(f"PyAV (FFmpeg) cannot decode {source.name}: {exc.strerror or exc}") from exc


def _seek(container, stream, *, target: int, fps: float, start: float) -> tuple[Iterator, tuple | None]:
    """Seek to the keyframe at or before `target`; return (decoding iterator, first frame).

    If the demuxer's index lands past the target (seen with sparse or wrong indexes), start over
    from the beginning instead, so the returned frame is never later than the one asked for.
    """
    current = None
    for seconds in (start + target / fps, start):
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
        frames = container.decode(stream)
        first = next(frames, None)
        if first is None:
            continue
        current = (_frame_number(first, start=start, fps=fps, previous=None), first)
        if current[0] <= target:
            break
    return frames, current


def _frame_number(frame: av.VideoFrame, *, start: float, fps: float, previous) -> int:
    if frame.time is None:  # no timestamps (raw elementary streams): count in decode order
        return previous[0] + 1 if previous is not None else 0
    return round((frame.time - start) * fps)


def _frame_picture(frame: av.VideoFrame, stream) -> Image.Image:
    """Return the frame as RGB at its display size (non-square pixels widened or narrowed)."""
    image = frame.to_image()
    aspect = stream.sample_aspect_ratio
    if aspect and aspect != 1:
        image = image.resize((max(1, round(frame.width * Fraction(aspect))), frame.height))
    return image


def pdf_first_page(*, source: Path, dest: Path, max_edge: int = DEFAULT_MAX_EDGE) -> tuple[int, int]:
    """Render page 1 with pypdfium2 on white so its long edge is exactly `max_edge`; return the size.

    Pages are vector graphics, so small pages are rendered larger rather than kept small.
    """
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(str(source))
        except Exception as exc:  # PdfiumError for bad data/passwords, OSError for unreadable files
            raise PreviewError(f"pypdfium2 cannot open {Path(source).name}: {exc}") from exc
        try:
            if len(document) == 0:
                raise PreviewError(f"pypdfium2: {Path(source).name} has no pages")
            page = document[0]
            width_pt, height_pt = page.get_size()
            target = _scale_long_edge(width=width_pt, height=height_pt, long_edge=max_edge)
            bitmap = page.render(scale=max_edge / max(width_pt, height_pt))
            image = bitmap.to_pil().convert("RGB")
        except PreviewError:
            raise
        except Exception as exc:
            raise PreviewError(f"pypdfium2 cannot render page 1 of {Path(source).name}: {exc}") from exc
        finally:
            document.close()
    # PDFium rounds the bitmap size its own way; one resample makes the size exactly `target`.
    image = _resize(image, target)
    _save_image(image, Path(dest))
    return image.size


def dicom_slice_image(
    *,
    source: Path,
    dest: Path,
    window_center: float | None = None,
    window_width: float | None = None,
    max_edge: int = DICOM_MAX_EDGE,
) -> dict[str, Any]:
    """Write one DICOM slice as 8-bit grayscale; return {width, height, window_center, window_width}.

    Stored values go through RescaleSlope/RescaleIntercept, then the DICOM linear VOI window
    (PS3.3 C.11.2.1.2.1). A window argument left None comes from the file's WindowCenter/WindowWidth
    (first value); if either is still missing, the window spans the slice's min..max. MONOCHROME1
    (where the minimum is white) is inverted, so output is always white for high values.
    Multi-frame files give their first frame; colour (RGB/YBR) files are written as RGB without
    windowing. Pixel spacing is not applied: one output pixel per stored pixel before scaling.
    """
    name = Path(source).name
    try:
        dataset = dicom_read(Path(source))
    except ProbeError as exc:
        raise PreviewError(exc.reason) from exc
    try:
        pixels = dicom_pixel_array(dataset, index=0)  # decodes only the first frame of a multi-frame
    except Exception as exc:  # missing decoder plugins, truncated or inconsistent pixel data...
        raise PreviewError(f"pydicom cannot decode the pixels of {name}: {exc}") from exc
    if int(dataset.get("SamplesPerPixel", 1) or 1) > 1:
        image = Image.fromarray(_to_uint8(pixels), mode="RGB")
        center = width = None
    else:
        values = pixels.astype(np.float64) * float(dataset.get("RescaleSlope", 1) or 1)
        values += float(dataset.get("RescaleIntercept", 0) or 0)
        center, width = _dicom_window(dataset, values, center=window_center, width=window_width)
        grey = dicom_window_to_uint8(values, center=center, width=width)
        if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
            grey = 255 - grey
        image = Image.fromarray(grey, mode="L")
    image = _resize(image, fit_within(width=image.width, height=image.height, max_edge=max_edge))
    _save_image(image, Path(dest))
    return {"width": image.width, "height": image.height, "window_center": center, "window_width": width}


def _dicom_window(dataset, values: np.ndarray, *, center: float | None, width: float | None) -> tuple:
    try:
        center = center if center is not None else dicom_first_float(dataset.get("WindowCenter"))
        width = width if width is not None else dicom_first_float(dataset.get("WindowWidth"))
    except (TypeError, ValueError):  # a malformed DS string: fall back to the data's own range
        center = width = None
    if center is None or width is None:
        low, high = float(values.min()), float(values.max())
        # Chosen so the linear function maps exactly low -> 0 and high -> 255.
        return (low + high + 1) / 2, high - low + 1
    return float(center), float(width)


def dicom_window_to_uint8(values: np.ndarray, *, center: float, width: float) -> np.ndarray:
    """Apply the DICOM linear window to modality values, giving 0..255 (rounded half to even).

    Per PS3.3 C.11.2.1.2.1: values <= c - 0.5 - (w-1)/2 are 0, values > c - 0.5 + (w-1)/2 are 255,
    between is ((x - (c - 0.5)) / (w - 1) + 0.5) * 255. A width of 1 or less is a threshold at c - 0.5.
    """
    if width <= 1:
        return np.where(values > center - 0.5, 255, 0).astype(np.uint8)
    scaled = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    data = pixels.astype(np.float64)
    high = float(data.max()) or 1.0
    return np.clip(np.rint(data * (255.0 / high)), 0, 255).astype(np.uint8)


def audio_waveform(*, source: Path, dest_png: Path, width: int = 800, height: int = 120) -> list[float]:
    """Draw a waveform PNG (transparent background) and return its `width` column peaks in 0..1.

    Channels are averaged to mono (so identical channels keep their level), and each column's peak
    is the largest absolute sample in its share of the audio, rounded to 4 decimals.
    """
    if width < 1 or height < 1:
        raise ValueError(f"waveform size must be positive, got {width}x{height}")
    blocks = _audio_block_peaks(Path(source), width=width)
    count = len(blocks)
    peaks = []
    for column in range(width):
        first = min(column * count // width, count - 1)
        last = max((column + 1) * count // width, first + 1)
        peaks.append(round(min(float(blocks[first:last].max()), 1.0), 4))
    _save_image(_draw_waveform(peaks, height=height), Path(dest_png))
    return peaks


def _audio_block_peaks(source: Path, *, width: int) -> np.ndarray:
    """Decode with PyAV and keep the peak of every block of samples, never the samples themselves."""
    try:
        info = probe_file(source, kind="audio")
    except ProbeError as exc:
        raise PreviewError(exc.reason) from exc
    estimated = int(info["duration"] * info["sample_rate"])
    block = WAVEFORM_FALLBACK_BLOCK
    if estimated:
        block = max(1, estimated // (width * WAVEFORM_BLOCKS_PER_COLUMN))
    peaks: list[np.ndarray] = []
    carry = np.zeros(0, dtype=np.float32)
    resampler = av.AudioResampler(format="fltp")
    try:
        with av.open(str(source)) as container:
            for frame in container.decode(container.streams.audio[0]):
                for planar in resampler.resample(frame):
                    carry = np.concatenate([carry, np.abs(planar.to_ndarray().mean(axis=0))])
                    whole = len(carry) // block * block
                    if whole:
                        peaks.append(carry[:whole].reshape(-1, block).max(axis=1))
                        carry = carry[whole:]
    except av.FFmpegError as exc:
        raise PreviewError(f"PyAV (FFmpeg) cannot decode audio {source.name}: {exc.strerror or exc}") from exc
    if len(carry):
        peaks.append(np.array([carry.max()], dtype=np.float32))
    if not peaks:
        raise PreviewError(f"PyAV (FFmpeg) decoded no audio samples from {source.name}")
    return np.concatenate(peaks)


def _draw_waveform(peaks: list[float], *, height: int) -> Image.Image:
    # Each column is a bar mirrored about the middle; silence still draws a 1-pixel centre line.
    half_heights = np.maximum(np.array(peaks) * (height / 2), 0.5)
    rows = np.arange(height)[:, None] + 0.5
    mask = np.abs(rows - height / 2) <= half_heights[None, :]
    canvas = np.zeros((height, len(peaks), 4), dtype=np.uint8)
    canvas[mask] = WAVEFORM_COLOR
    return Image.fromarray(canvas, mode="RGBA")


def text_snippet(*, source: Path, max_chars: int = 2000) -> str:
    """Return the first `max_chars` characters of a text file, decoded as `probe_file` detects.

    Reads at most 4 bytes per character (plus a BOM), never the whole file; the BOM is dropped.
    """
    if max_chars < 0:
        raise ValueError(f"max_chars must not be negative, got {max_chars}")
    budget = max_chars * 4 + 4
    try:
        with Path(source).open("rb") as handle:
            head = handle.read(budget + 1)
        complete = len(head) <= budget
        head = head[:budget]
        encoding, _note = detect_text_encoding(head, complete=complete)
    except ProbeError as exc:
        raise PreviewError(exc.reason) from exc
    except OSError as exc:
        raise PreviewError(f"cannot read {Path(source).name}: {exc.strerror or exc}") from exc
    try:
        text = head.decode(encoding) if complete else _decode_prefix(head, encoding)
    except UnicodeDecodeError as exc:
        raise PreviewError(f"{encoding} decoder cannot read {Path(source).name}: {exc.reason}") from exc
    return text[:max_chars]


def _decode_prefix(head: bytes, encoding: str) -> str:
    # A read budget can end inside a multi-byte character: the incremental decoder holds it back.
    return codecs.getincrementaldecoder(encoding)().decode(head, final=False)
