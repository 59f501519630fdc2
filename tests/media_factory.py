"""Build real, small media files for tests.

Every helper writes a file that the production decoders (Pillow, PyAV, pypdf, pypdfium2, pydicom) open
for real, so tests exercise the same code paths as an import of a user's files. Output is deterministic:
the same arguments give the same pixels, samples, pages and UIDs on every run (the H.264/MP3 bitstreams
come from the bundled encoders and are stable for a given PyAV build).

Nothing here imports Django, so the module serves both plain pytest runs and pytest-django runs.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

# The CT fixture stores raw values 0..N and asks viewers to add -1024, as real CT does (air is -1000 HU).
DICOM_RESCALE_INTERCEPT = -1024
DICOM_WINDOW_CENTER = 40
DICOM_WINDOW_WIDTH = 400


def frame_color(index: int) -> tuple[int, int, int]:
    """Return the flat RGB colour of frame `index` in `make_mp4`/`make_video` output.

    Tests use it to check that a frame fetched by number is that frame: any two of the first 1000
    frames differ by at least 24 levels in some channel, far more than H.264's error on a flat colour.
    """
    return ((index % 10) * 24 + 8, (index // 10 % 10) * 24 + 8, (index // 100 % 10) * 24 + 8)


def make_jpeg(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, ...] = (200, 30, 30),
    *,
    mode: str = "RGB",
    exif_orientation: int | None = None,
    quality: int = 90,
) -> Path:
    """Write a flat-colour JPEG; `mode="CMYK"` or `"L"` and an EXIF orientation tag are optional."""
    image = Image.new(mode, size, color if mode != "L" else color[0])
    kwargs: dict = {"quality": quality}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    image.save(path, format="JPEG", **kwargs)
    return Path(path)


def make_png(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, ...] = (30, 160, 60),
    *,
    mode: str = "RGB",
) -> Path:
    """Write a PNG in `mode` (RGB, RGBA, LA, L, P, or I;16).

    P images hold palette indices 0..15 left to right; entry i is (17i, 255 - 17i, 128) and entry 0
    is transparent, so palette and transparency handling are exercised;
    I;16 images hold a horizontal gradient spanning 0..65535 so bit-depth reduction is visible.
    """
    width, height = size
    if mode == "I;16":
        ramp = np.linspace(0, 65535, width, dtype=np.float64).round().astype(np.uint16)
        image = Image.fromarray(np.tile(ramp, (height, 1)))
    elif mode == "P":
        indices = (np.arange(width) * 16 // width).astype(np.uint8)
        image = Image.frombytes("P", size, np.tile(indices, (height, 1)).tobytes())
        image.putpalette([level for i in range(16) for level in (i * 17, 255 - i * 17, 128)])
        image.info["transparency"] = 0
    elif mode in ("L", "LA"):
        image = Image.new(mode, size, color[0] if mode == "L" else (color[0], color[-1]))
    else:
        image = Image.new(mode, size, color)
    image.save(path, format="PNG")
    return Path(path)


def make_video(
    path: Path,
    *,
    frames: int = 30,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    keyframe_interval: int = 10,
) -> Path:
    """Write a video whose frame `i` is flat `frame_color(i)`; the container follows the suffix.

    A keyframe every `keyframe_interval` frames makes seeking tests meaningful (a seek lands on a
    keyframe before the target and must decode forward to the exact frame).
    """
    width, height = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = keyframe_interval
        if codec == "libx264":
            # Without this x264 may place scene-cut keyframes anywhere; fixed GOPs keep output stable.
            stream.codec_context.options = {"sc_threshold": "0"}
        for index in range(frames):
            pixels = np.empty((height, width, 3), dtype=np.uint8)
            pixels[:, :] = frame_color(index)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)


def make_mp4(path: Path, *, frames: int = 30, fps: int = 10, size: tuple[int, int] = (64, 48)) -> Path:
    """Write an H.264 MP4 (yuv420p) with `frames` frames of varying colour (see `frame_color`)."""
    return make_video(path, frames=frames, fps=fps, size=size)


def _sine_channels(
    *, seconds: float, rate: int, channels: int, frequency: float, channel_amplitudes: Sequence[float] | None
) -> np.ndarray:
    amplitudes = list(channel_amplitudes) if channel_amplitudes is not None else [0.5] * channels
    if len(amplitudes) != channels:
        raise ValueError(f"channel_amplitudes has {len(amplitudes)} values for {channels} channels")
    count = int(round(seconds * rate))
    wave_ = np.sin(2 * math.pi * frequency * np.arange(count) / rate)
    return np.stack([wave_ * amplitude for amplitude in amplitudes])


def make_wav(
    path: Path,
    *,
    seconds: float = 1.0,
    rate: int = 8000,
    channels: int = 1,
    frequency: float = 440.0,
    channel_amplitudes: Sequence[float] | None = None,
) -> Path:
    """Write a 16-bit PCM WAV sine tone; each channel's peak is its amplitude (default 0.5)."""
    samples = _sine_channels(
        seconds=seconds, rate=rate, channels=channels, frequency=frequency,
        channel_amplitudes=channel_amplitudes,
    )
    interleaved = (samples.T * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(interleaved.tobytes())
    return Path(path)


def make_mp3(
    path: Path, *, seconds: float = 1.0, rate: int = 8000, channels: int = 1, frequency: float = 440.0
) -> Path:
    """Write an MP3 sine tone (mono or stereo) through PyAV's bundled libmp3lame (in the PyAV 18 wheels)."""
    if channels not in (1, 2):
        raise ValueError(f"MP3 holds 1 or 2 channels, got {channels}")
    samples = _sine_channels(
        seconds=seconds, rate=rate, channels=channels, frequency=frequency, channel_amplitudes=None
    )
    pcm = (samples * 32767).round().astype(np.int16)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout=layout)
        stream.codec_context.format = "s16p"
        chunk = 1152  # one MPEG-1 layer III frame
        for start in range(0, pcm.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, start:start + chunk]), format="s16p", layout=layout
            )
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)


def _pdf_text_operators(text: str, height: int) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"BT /F1 10 Tf 10 {max(height - 20, 1)} Td ({escaped}) Tj ET\n".encode("latin-1")


def _pdf_bytes(*, pages: int, width: int, height: int, texts: list[str] | None = None) -> bytes:
    """Lay out a minimal PDF 1.4 by hand, with byte-exact xref offsets.

    Each page holds one black rectangle over its left half, so a rendered preview has known dark and
    light regions; the rectangle is 10 pt shorter on each later page, to tell pages apart. With
    ``texts``, page i also carries ``texts[i]`` (Latin-1, Helvetica) as a text layer.
    """
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(f"{3 + 2 * i} 0 R".encode() for i in range(pages))
        + f"] /Count {pages} >>".encode(),
    ]
    for page in range(pages):
        content = f"0 0 0 rg 0 0 {width // 2} {max(height - 10 * page, 1)} re f\n".encode()
        resources = "<< >>"
        if texts is not None and page < len(texts):
            content += _pdf_text_operators(texts[page], height)
            resources = "<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
            f"/Resources {resources} /Contents {4 + 2 * page} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode()
    return bytes(out)


def make_pdf(path: Path, pages: int = 2, *, size: tuple[int, int] = (200, 100), texts: list[str] | None = None) -> Path:
    """Write a `pages`-page PDF with `size` (points) pages that pypdf and pypdfium2 both open; page i
    carries `texts[i]` as its text layer when given."""
    Path(path).write_bytes(_pdf_bytes(pages=pages, width=size[0], height=size[1], texts=texts))
    return Path(path)


def make_text(path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` in `encoding` exactly as given (Python's "utf-16" codec adds a BOM)."""
    Path(path).write_bytes(text.encode(encoding))
    return Path(path)


def make_nifti(path: Path, *, dims: tuple[int, int, int] = (4, 4, 2)) -> Path:
    """Write a little-endian single-file NIfTI-1 (.nii) volume of uint8 zeros."""
    header = bytearray(352)
    header[0:4] = (348).to_bytes(4, "little")
    dim = [3, *dims, 1, 1, 1, 1]
    header[40:56] = np.array(dim, dtype="<i2").tobytes()
    header[70:72] = (2).to_bytes(2, "little")  # datatype DT_UNSIGNED_CHAR
    header[72:74] = (8).to_bytes(2, "little")  # bitpix
    header[76:108] = np.array([1.0] * 8, dtype="<f4").tobytes()  # pixdim
    header[108:112] = np.array([352.0], dtype="<f4").tobytes()  # vox_offset
    header[344:348] = b"n+1\x00"
    Path(path).write_bytes(bytes(header) + bytes(int(np.prod(dims))))
    return Path(path)


def dicom_pixels(*, rows: int, cols: int, instance_number: int) -> np.ndarray:
    """Return the stored (pre-rescale) int16 values of slice `instance_number` of `make_dicom_series`.

    A left-to-right ramp from 0 to 2000 raw (-1024..976 HU after rescale) plus 10 per slice, so
    windowing tests can compute the expected grey level of any column.
    """
    ramp = np.linspace(0, 2000, cols).round().astype(np.int16) + 10 * instance_number
    return np.tile(ramp, (rows, 1)).astype(np.int16)


def make_dicom_series(
    directory: Path,
    *,
    slices: int = 3,
    rows: int = 32,
    cols: int = 32,
    study_uid: str | None = None,
    series_uid: str | None = None,
    patient_id: str = "LOUPE-TEST-1",
) -> list[Path]:
    """Write `slices` CT Image Storage files (explicit VR little endian) into `directory`.

    UIDs are derived from the arguments, so repeated calls agree; pass another `series_uid` to put a
    second series in the same study. Files are named `slice_001.dcm`... in instance-number order.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid(entropy_srcs=["loupe-test-study", patient_id])
    series_uid = series_uid or generate_uid(entropy_srcs=["loupe-test-series", study_uid])
    paths = []
    for number in range(1, slices + 1):
        instance_uid = generate_uid(entropy_srcs=["loupe-test-instance", series_uid, str(number)])
        dataset = _ct_slice(
            rows=rows, cols=cols, number=number, study_uid=study_uid, series_uid=series_uid,
            instance_uid=instance_uid, patient_id=patient_id,
        )
        path = directory / f"slice_{number:03d}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _ct_slice(
    *, rows: int, cols: int, number: int, study_uid: str, series_uid: str, instance_uid: str, patient_id: str
) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = instance_uid
    dataset.StudyInstanceUID = study_uid
    dataset.SeriesInstanceUID = series_uid
    dataset.Modality = "CT"
    dataset.PatientID = patient_id
    dataset.PatientName = "Test^Loupe"
    dataset.SeriesNumber = 1
    dataset.InstanceNumber = number
    dataset.ImagePositionPatient = [0.0, 0.0, float(number)]
    dataset.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    dataset.SliceThickness = 1.0
    dataset.PixelSpacing = [1.0, 1.0]
    dataset.Rows = rows
    dataset.Columns = cols
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 1
    dataset.RescaleIntercept = DICOM_RESCALE_INTERCEPT
    dataset.RescaleSlope = 1
    dataset.WindowCenter = DICOM_WINDOW_CENTER
    dataset.WindowWidth = DICOM_WINDOW_WIDTH
    dataset.PixelData = dicom_pixels(rows=rows, cols=cols, instance_number=number).tobytes()
    return dataset


def scene_image(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A photo-like RGB picture (smooth shaded blobs and a few shapes), different for every seed.

    Flat-colour pictures all have the same perceptual hash; near-duplicate tests need structure.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    canvas = np.zeros((height, width, 3))
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.08, 0.35) * max(width, height)
        weight = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius ** 2))
        canvas += weight[..., None] * rng.uniform(-120, 160, size=3)
    canvas = np.clip(canvas + 90, 0, 255).astype(np.uint8)
    image = Image.fromarray(canvas, mode="RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.8)
        box = [x0, y0, x0 + rng.uniform(0.05, 0.2) * width, y0 + rng.uniform(0.05, 0.2) * height]
        draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 255, size=3)))
    return image


def make_scene_video(path: Path, *, seeds: list[int], frames_each: int = 10, fps: int = 10,
                     size: tuple[int, int] = (160, 120)) -> Path:
    """An H.264 video showing ``scene_image(seed)`` for ``frames_each`` frames per seed, in order."""
    width, height = size
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        index = 0
        for seed in seeds:
            pixels = np.asarray(scene_image(seed, size=size))
            for _ in range(frames_each):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, fps)
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode(None))
    return Path(path)
