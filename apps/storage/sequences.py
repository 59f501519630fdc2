"""Render an ordered list of images (a time-lapse, a microscopy stack, camera frames) as an MP4.

Browsers play H.264 in yuv420p everywhere, so that is the target. The PyAV 18 wheels bundle
libx264 (checked when this was written: `av.Codec("libx264", "w")` opens), so output is H.264.
Builds of PyAV without it fall back to FFmpeg's own MPEG-4 Part 2 encoder ("mpeg4"), which every
build has; that plays in most desktop players but not in every browser, and `codec` in the result
says which one was used.

Images are read one at a time, so memory stays at a couple of frames whatever the length.
Django-free, like `probing` and `previews`.
"""

from __future__ import annotations

import math
import os
import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageOps

from apps.storage.previews import displayable_image
from apps.storage.probing import ProbeError

# The product's cap on one sequence item (2**15 - 1 frames); it bounds a render to ~22 minutes at 25 fps.
MAX_SEQUENCE_IMAGES = 32_767
# Frame rates such as 29.97 become exact NTSC-style fractions (30000/1001) rather than binary floats.
MAX_RATE_DENOMINATOR = 1001
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
# mpeg4 has no constant-quality default that looks right at every size; 0.15 bit per pixel does.
MPEG4_BITS_PER_PIXEL = 0.15


class SequenceError(ProbeError):
    """An image sequence could not be rendered.

    `position` is the 0-based index in `sources` of the image that failed (None when the encoder
    itself failed) and `path` that image's path.
    """

    def __init__(self, reason: str, *, position: int | None = None, path: Path | None = None) -> None:
        super().__init__(reason)
        self.position = position
        self.path = path


def render_image_sequence(*, sources: list[Path], dest: Path, fps: float = 25.0) -> dict[str, Any]:
    """Encode `sources` in order as one frame each into an MP4 at `dest`; return what was written.

    The frame size is the first image's (upright, per EXIF), padded to even width and height by
    repeating the last column/row, because yuv420p stores colour per 2x2 block. Later images of
    another size are scaled to fit inside it, aspect ratio kept, centred on black. Alpha is
    flattened on black. Returns {width, height, fps, frame_count, duration, codec}.
    Raises ValueError for no images, more than MAX_SEQUENCE_IMAGES or a bad fps (checked before
    any file is opened) and SequenceError naming the position of an image that cannot be decoded;
    `dest` is only replaced when rendering succeeds.
    """
    if not sources:
        raise ValueError("an image sequence needs at least one image")
    if len(sources) > MAX_SEQUENCE_IMAGES:
        raise ValueError(f"an image sequence holds at most {MAX_SEQUENCE_IMAGES} images, got {len(sources)}")
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps}")
    rate = Fraction(fps).limit_denominator(MAX_RATE_DENOMINATOR)
    first = _load_frame(sources[0], position=0)
    width, height = first.width + first.width % 2, first.height + first.height % 2
    codec = sequence_encoder()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        # faststart moves the index to the front, so browsers start playing before the download ends.
        with av.open(str(temporary), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = _add_video_stream(container, codec=codec, rate=rate, width=width, height=height)
            _encode_images(container, stream, sources=sources, first=first, rate=rate)
        os.replace(temporary, dest)
    except av.FFmpegError as exc:
        raise SequenceError(f"PyAV (FFmpeg) {codec} encoder failed: {exc.strerror or exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
    return {
        "width": width,
        "height": height,
        "fps": float(rate),
        "frame_count": len(sources),
        "duration": float(len(sources) / rate),
        "codec": "h264" if codec == "libx264" else codec,
    }


def _encode_images(container, stream, *, sources: list[Path], first: Image.Image, rate: Fraction) -> None:
    """Encode image n as frame n at time n / rate; only the first and the current image are held."""
    for position, path in enumerate(sources):
        image = first if position == 0 else _load_frame(path, position=position)
        frame = av.VideoFrame.from_ndarray(_even_pixels(_fit_on_black(image, first.size)), format="rgb24")
        frame.pts = position
        frame.time_base = 1 / rate
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def sequence_encoder() -> str:
    """Return "libx264" when this PyAV build can encode with it, else "mpeg4"."""
    return "libx264" if _encoder_available("libx264") else "mpeg4"


def _encoder_available(name: str) -> bool:
    try:
        av.Codec(name, "w")
    except Exception:  # PyAV raises UnknownCodecError (a ValueError) or FFmpegError by version
        return False
    return True


def _add_video_stream(container, *, codec: str, rate: Fraction, width: int, height: int):
    stream = container.add_stream(codec, rate=rate)
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.codec_context.options = dict(X264_OPTIONS)
    else:
        stream.codec_context.bit_rate = max(int(width * height * float(rate) * MPEG4_BITS_PER_PIXEL), 100_000)
    return stream


def _load_frame(path: Path, *, position: int) -> Image.Image:
    """Decode one image to upright RGB, naming its position in the sequence on failure."""
    try:
        with Image.open(path) as image:
            upright = displayable_image(ImageOps.exif_transpose(image))
            return _flatten_on_black(upright)
    except Exception as exc:  # Pillow plugins raise OSError, SyntaxError, ValueError... on bad input.
        reason = f"image at position {position} ({Path(path).name}): Pillow cannot decode it: {exc}"
        raise SequenceError(reason, position=position, path=Path(path)) from exc


def _flatten_on_black(image: Image.Image) -> Image.Image:
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (0, 0, 0))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def _fit_on_black(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    scale = min(size[0] / image.width, size[1] / image.height)
    fitted = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", size, (0, 0, 0))
    offset = ((size[0] - fitted[0]) // 2, (size[1] - fitted[1]) // 2)
    canvas.paste(image.resize(fitted, Image.Resampling.LANCZOS), offset)
    return canvas


def _even_pixels(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image, dtype=np.uint8)
    rows, cols = pixels.shape[0] % 2, pixels.shape[1] % 2
    if rows or cols:
        pixels = np.pad(pixels, ((0, rows), (0, cols), (0, 0)), mode="edge")
    return pixels
