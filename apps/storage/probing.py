"""Read the technical facts of a media file (size, duration, page count, DICOM identity...).

Django-free on purpose: import jobs call it from Celery workers, and tests and benchmarks call it on
plain files. Every decoder failure surfaces as `ProbeError` whose `reason` names the decoder and what
failed, so an import can store one readable line per bad file instead of a traceback.

Decoders: Pillow (image), PyAV/FFmpeg (video, audio), pypdf (pdf), the stdlib codecs (text),
pydicom (dicom). NIfTI has no decoder here (nibabel is not a dependency): its probe checks the
header magic and reports only `file_size` and `mime_type`.
"""

from __future__ import annotations

import codecs
import gzip
import mimetypes
from pathlib import Path
from typing import Any, BinaryIO

import av
import pydicom
import pypdf
from PIL import Image, UnidentifiedImageError
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

KINDS = ("image", "video", "audio", "pdf", "text", "dicom", "nifti")

# Text is read in slices of this size, so a multi-gigabyte log never sits in memory whole.
TEXT_CHUNK_BYTES = 1 << 20
# Readers accept a %%EOF anywhere in the last KiB (trailing junk after it is common in the wild).
PDF_EOF_WINDOW_BYTES = 1024
# Pixel Data larger than this is not read while probing; only its declared length is checked.
DICOM_DEFER_SIZE = "64 KB"
PIXEL_DATA_TAG = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF

# EXIF orientations 5..8 rotate by 90 degrees, so the displayed width is the stored height.
_ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})

# FFmpeg demuxer name -> MIME type. "mov,mp4,..." and "matroska,webm" cover several types: the
# suffix picks among them in `_av_mime`.
_AV_FORMAT_MIME = {
    "avi": "video/x-msvideo",
    "mpegts": "video/mp2t",
    "mpeg": "video/mpeg",
    "flv": "video/x-flv",
    "asf": "video/x-ms-asf",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
    "w64": "audio/wav",
}
_SUFFIX_MIME = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".3gp": "video/3gpp",
    ".m4a": "audio/mp4", ".mkv": "video/x-matroska", ".mka": "audio/x-matroska", ".webm": "video/webm",
    ".ogv": "video/ogg", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
}

_SHARED_SUBTYPES = frozenset({"mp4", "webm", "ogg", "x-matroska", "3gpp"})


class ProbeError(Exception):
    """A file could not be decoded; `reason` names the decoder and what failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def probe_file(path: Path, *, kind: str) -> dict[str, Any]:
    """Return the technical facts of `path`, read as `kind` (one of `KINDS`).

    The keys per kind are fixed (see each `_probe_<kind>`); values a format does not carry are None.
    Raises ProbeError when the file is missing, empty, truncated or not of that kind, and ValueError
    for an unknown kind (a programming error, not a bad file).
    """
    prober = _PROBERS.get(kind)
    if prober is None:
        raise ValueError(f"unknown media kind {kind!r}; expected one of {', '.join(KINDS)}")
    path = Path(path)
    try:
        file_size = path.stat().st_size
    except OSError as exc:
        raise ProbeError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise ProbeError(f"cannot read {path.name}: not a regular file")
    if file_size == 0 and kind != "text":
        raise ProbeError(f"{_DECODER_NAMES[kind]} cannot read {path.name}: the file is empty")
    return prober(path, file_size)


def _probe_image(path: Path, file_size: int) -> dict[str, Any]:
    """Decode the whole image (JPEG at 1/8 scale) so truncated files fail here, not in thumbnails.

    Width and height are the displayed size: EXIF orientations 5-8 swap them, as browsers do.
    Pillow's decompression-bomb limit stays on; images past it are refused with that reason.
    """
    try:
        with Image.open(path) as image:
            image_format = image.format
            mime_type = image.get_format_mimetype() or _suffix_mime(path)
            width, height = image.size
            orientation = image.getexif().get(0x0112)
            image.draft(None, (1, 1))
            image.load()
    except UnidentifiedImageError as exc:
        raise ProbeError(f"Pillow cannot identify image file: {path.name}") from exc
    except Exception as exc:  # Pillow plugins raise OSError, SyntaxError, ValueError... on bad input.
        raise ProbeError(f"Pillow cannot decode image {path.name}: {exc}") from exc
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return {
        "width": width,
        "height": height,
        "mime_type": mime_type,
        "file_size": file_size,
        "format": image_format,
    }


def _probe_video(path: Path, file_size: int) -> dict[str, Any]:
    """Read the first video stream's header and decode its first frame.

    `frame_count` comes from the container's frame count when it has one (MP4, MOV); otherwise
    (Matroska, WebM, MPEG-TS) from duration x fps, and from counting packets when neither is known.
    """
    container = _av_open(path, "video")
    with container:
        if not container.streams.video:
            raise ProbeError(f"PyAV (FFmpeg) found no video stream in {path.name} ({container.format.name})")
        stream = container.streams.video[0]
        first = _av_first_frame(container, stream, "video")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = _av_duration(container, stream)
        frame_count = stream.frames
        if not frame_count and duration and fps:
            frame_count = round(duration * fps)
        if not frame_count:
            frame_count = _av_count_packets(path)
        if not duration and fps:
            duration = frame_count / fps
        return {
            "width": stream.codec_context.width or first.width,
            "height": stream.codec_context.height or first.height,
            "fps": fps,
            "frame_count": int(frame_count),
            "duration": float(duration or 0.0),
            "codec": stream.codec_context.codec.canonical_name,
            "mime_type": _av_mime(container.format.name, path, "video"),
            "file_size": file_size,
        }


def _probe_audio(path: Path, file_size: int) -> dict[str, Any]:
    """Read the first audio stream's header and decode its first frame.

    `bit_depth` is reported only for PCM, where the codec name states it (pcm_s24le -> 24); lossy
    codecs have none, and FFmpeg decodes 24-bit FLAC to 32-bit samples, so it is None there too.
    """
    container = _av_open(path, "audio")
    with container:
        if not container.streams.audio:
            raise ProbeError(f"PyAV (FFmpeg) found no audio stream in {path.name} ({container.format.name})")
        stream = container.streams.audio[0]
        _av_first_frame(container, stream, "audio")
        codec = stream.codec_context.codec.canonical_name
        return {
            "duration": float(_av_duration(container, stream) or 0.0),
            "sample_rate": stream.codec_context.sample_rate,
            "num_channels": stream.codec_context.layout.nb_channels,
            "codec": codec,
            "bit_depth": _pcm_bit_depth(codec),
            "mime_type": _av_mime(container.format.name, path, "audio"),
            "file_size": file_size,
        }


def _probe_pdf(path: Path, file_size: int) -> dict[str, Any]:
    """Count pages with pypdf, refusing files without a trailing %%EOF (cut-off uploads).

    pypdf's lenient mode rebuilds a damaged cross-reference table, which can turn a half-copied
    file into a plausible but wrong page count; the EOF check catches that case first.
    """
    with path.open("rb") as handle:
        head = handle.read(PDF_EOF_WINDOW_BYTES)
        handle.seek(max(file_size - PDF_EOF_WINDOW_BYTES, 0))
        tail = handle.read()
    # Only a file that starts like a PDF is called truncated; pypdf explains anything else.
    if b"%PDF-" in head and b"%%EOF" not in tail:
        raise ProbeError(f"pypdf: {path.name} is truncated (no %%EOF marker at the end)")
    try:
        reader = pypdf.PdfReader(path, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ProbeError(f"pypdf cannot read {path.name}: it is encrypted with a password")
        page_count = len(reader.pages)
    except ProbeError:
        raise
    except Exception as exc:  # pypdf raises PdfReadError but also KeyError/ValueError on bad objects.
        raise ProbeError(f"pypdf cannot read {path.name}: {exc}") from exc
    return {"page_count": page_count, "mime_type": "application/pdf", "file_size": file_size}


def _probe_text(path: Path, file_size: int) -> dict[str, Any]:
    """Detect the encoding and count lines in one streaming pass.

    `encoding` is a Python codec name: "utf-8", "utf-8-sig" (UTF-8 with BOM), "utf-16" (BOM
    required), or "latin-1" when any byte sequence is not UTF-8, with `encoding_note` saying where.
    `line_count` counts "\\n"-terminated lines plus a final unterminated one ("a\\nb" and "a\\nb\\n"
    both have 2; an empty file has 0). An empty file is valid text. NUL bytes outside UTF-16 mean a
    binary file and raise ProbeError.
    """
    with path.open("rb") as handle:
        head = handle.read(TEXT_CHUNK_BYTES)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding, note = "utf-16", None
            line_count = _utf16_line_count(path, head, handle)
        else:
            encoding, note, line_count = _byte_text_scan(path, head, handle)
    return {
        "file_size": file_size,
        "encoding": encoding,
        "encoding_note": note,
        "line_count": line_count,
        "mime_type": "text/plain",
    }


def detect_text_encoding(sample: bytes, *, complete: bool) -> tuple[str, str | None]:
    """Return (Python codec name, note) for text starting with `sample`, as `probe_file` would.

    A BOM decides first ("utf-8-sig", "utf-16"); then strict UTF-8; anything else is Latin-1 (which
    decodes every byte) with a note saying where UTF-8 failed. `complete` says `sample` is the whole
    file, so a multi-byte sequence cut at its end is an error rather than a read boundary.
    Raises ProbeError for NUL bytes outside UTF-16 (a binary file, or UTF-16 without a BOM).
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", None
    if b"\x00" in sample:
        raise ProbeError("text decoder: file contains NUL bytes (binary, or UTF-16 without a BOM)")
    encoding = "utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=complete)
    except UnicodeDecodeError as exc:
        return "latin-1", _latin1_note(exc, chunk_end=len(sample))
    return encoding, None


def _byte_text_scan(path: Path, head: bytes, handle: BinaryIO) -> tuple[str, str | None, int]:
    """Validate UTF-8 and count 0x0A bytes chunk by chunk (0x0A is a newline in UTF-8 and Latin-1)."""
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    decoder = codecs.getincrementaldecoder("utf-8")()
    note = None
    newlines = content_bytes = 0
    last = b""
    chunk = head[len(codecs.BOM_UTF8):] if encoding == "utf-8-sig" else head
    while True:
        if b"\x00" in chunk:
            raise ProbeError(
                f"text decoder: {path.name} contains NUL bytes (binary, or UTF-16 without a BOM)"
            )
        if note is None:
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                encoding, note = "latin-1", _latin1_note(exc, chunk_end=content_bytes + len(chunk))
        if not chunk:
            break
        newlines += chunk.count(b"\n")
        content_bytes += len(chunk)
        last = chunk[-1:]
        chunk = handle.read(TEXT_CHUNK_BYTES)
    return encoding, note, newlines + (1 if content_bytes and last != b"\n" else 0)


def _latin1_note(exc: UnicodeDecodeError, *, chunk_end: int) -> str:
    # An incremental decoder reports positions in (held-back bytes + current chunk), which ends at
    # `chunk_end` in the file (after any BOM); that turns the position into a file offset.
    position = chunk_end - len(exc.object) + exc.start
    return f"not valid UTF-8 ({exc.reason} at byte {position}); decoded as Latin-1"


def _utf16_line_count(path: Path, head: bytes, handle: BinaryIO) -> int:
    decoder = codecs.getincrementaldecoder("utf-16")()
    newlines = 0
    last = ""
    chunk = head
    try:
        while True:
            text = decoder.decode(chunk, final=not chunk)
            newlines += text.count("\n")
            last = text[-1:] or last
            if not chunk:
                break
            chunk = handle.read(TEXT_CHUNK_BYTES)
    except UnicodeDecodeError as exc:
        raise ProbeError(f"UTF-16 decoder cannot read {path.name}: {exc.reason}") from exc
    return newlines + (1 if last and last != "\n" else 0)


def _probe_dicom(path: Path, file_size: int) -> dict[str, Any]:
    """Read the DICOM header (not the pixels) and check Pixel Data is complete.

    Encapsulated (compressed) Pixel Data has no declared length, so truncation there is found only
    when a preview decodes it.
    """
    dataset = dicom_read(path, defer_size=DICOM_DEFER_SIZE)
    try:
        pixel_data = dataset.get_item(PIXEL_DATA_TAG, keep_deferred=True)
        series_uid = _dicom_str(dataset, "SeriesInstanceUID")
        instance_uid = _dicom_str(dataset, "SOPInstanceUID")
        rows, columns = dataset.get("Rows"), dataset.get("Columns")
    except Exception as exc:
        raise ProbeError(f"pydicom cannot read the header of {path.name}: {exc}") from exc
    if not series_uid or not instance_uid:
        raise ProbeError(f"pydicom: {path.name} has no SeriesInstanceUID/SOPInstanceUID")
    if pixel_data is None or not rows or not columns:
        raise ProbeError(f"pydicom: {path.name} is not an image (no Pixel Data, Rows or Columns)")
    if isinstance(pixel_data, RawDataElement) and pixel_data.length != UNDEFINED_LENGTH:
        if pixel_data.value_tell is not None and pixel_data.value_tell + pixel_data.length > file_size:
            missing = pixel_data.value_tell + pixel_data.length - file_size
            raise ProbeError(f"pydicom: {path.name} is truncated ({missing} bytes of Pixel Data missing)")
    return _dicom_info(dataset, series_uid=series_uid, instance_uid=instance_uid, file_size=file_size)


def dicom_read(path: Path, *, defer_size: str | None = None) -> pydicom.Dataset:
    """Read a DICOM file with pydicom, raising ProbeError instead of pydicom's assorted errors.

    Files without the 128-byte preamble and "DICM" prefix (old ACR-NEMA style exports) are retried
    with pydicom's force mode and accepted only if they carry SOP and series instance UIDs, since
    force mode "reads" any bytes at all.
    """
    try:
        return pydicom.dcmread(path, defer_size=defer_size)
    except InvalidDicomError as exc:
        original = exc
    except Exception as exc:  # pydicom raises EOFError, struct.error, ValueError... on bad input.
        raise ProbeError(f"pydicom cannot read {Path(path).name}: {exc}") from exc
    try:
        dataset = pydicom.dcmread(path, defer_size=defer_size, force=True)
        accepted = bool(_dicom_str(dataset, "SOPInstanceUID") and _dicom_str(dataset, "SeriesInstanceUID"))
    except Exception:  # force mode on a non-DICOM file fails in arbitrary ways: it is simply not DICOM.
        accepted = False
    if not accepted:
        raise ProbeError(f"pydicom: {Path(path).name} is not a DICOM file ({original})") from original
    if "TransferSyntaxUID" not in dataset.file_meta:
        # Without file meta, the encoding force mode detected is the only record of the syntax, and
        # pydicom will not decode pixels without one.
        implicit_vr, little_endian = dataset.original_encoding
        dataset.file_meta.TransferSyntaxUID = _UNCOMPRESSED_SYNTAXES[(implicit_vr, little_endian)]
    return dataset


def _dicom_info(dataset: pydicom.Dataset, *, series_uid: str, instance_uid: str, file_size: int) -> dict:
    try:
        return {
            "study_uid": _dicom_str(dataset, "StudyInstanceUID"),
            "series_uid": series_uid,
            "instance_uid": instance_uid,
            "instance_number": _dicom_int(dataset.get("InstanceNumber")),
            "rows": int(dataset.Rows),
            "columns": int(dataset.Columns),
            "modality": _dicom_str(dataset, "Modality"),
            "patient_id": _dicom_str(dataset, "PatientID"),
            "window_center": dicom_first_float(dataset.get("WindowCenter")),
            "window_width": dicom_first_float(dataset.get("WindowWidth")),
            "mime_type": "application/dicom",
            "file_size": file_size,
        }
    except Exception as exc:  # a malformed IS/DS string raises on conversion
        raise ProbeError(f"pydicom cannot read the header tags: {exc}") from exc


def _probe_nifti(path: Path, file_size: int) -> dict[str, Any]:
    """Check the NIfTI-1/2 header magic; no volume facts (nibabel is not a dependency)."""
    gzipped = path.name.lower().endswith(".gz")
    try:
        if gzipped:
            with gzip.open(path, "rb") as handle:
                header = handle.read(540)
        else:
            with path.open("rb") as handle:
                header = handle.read(540)
    except (OSError, EOFError) as exc:
        raise ProbeError(f"gzip cannot read {path.name}: {exc}") from exc
    if not _is_nifti_header(header):
        raise ProbeError(f"NIfTI header check: {path.name} has no NIfTI-1 or NIfTI-2 magic")
    return {"file_size": file_size, "mime_type": "application/gzip" if gzipped else "application/x-nifti"}


def _is_nifti_header(header: bytes) -> bool:
    sizes = {int.from_bytes(header[:4], "little"), int.from_bytes(header[:4], "big")}
    if 348 in sizes and len(header) >= 348:
        return header[344:348] in (b"n+1\x00", b"ni1\x00")
    return 540 in sizes and header[4:12] == b"n+2\x00\r\n\x1a\n"


def dicom_sort_key(info: dict) -> tuple:
    """Order slices by InstanceNumber; slices without one go last, ties break on the instance UID."""
    number = info.get("instance_number")
    return (number is None, number if number is not None else 0, info.get("instance_uid") or "")


def dicom_group_series(infos: list[dict]) -> dict[str, list[dict]]:
    """Group probe results by series_uid, each group in `dicom_sort_key` order.

    Series appear in the order their first slice appears in `infos`, so callers control it.
    """
    groups: dict[str, list[dict]] = {}
    for info in infos:
        groups.setdefault(info["series_uid"], []).append(info)
    return {uid: sorted(members, key=dicom_sort_key) for uid, members in groups.items()}


def dicom_first_float(value: Any) -> float | None:
    """Return the first number of a DS/IS value that may be multi-valued or empty (WindowCenter)."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, MultiValue)):
        return float(value[0]) if len(value) else None
    return float(value)


def _dicom_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def _dicom_str(dataset: pydicom.Dataset, keyword: str) -> str | None:
    value = dataset.get(keyword)
    return str(value) if value not in (None, "") else None


def _av_open(path: Path, what: str) -> av.container.InputContainer:
    try:
        return av.open(str(path))
    except av.FFmpegError as exc:
        raise ProbeError(f"PyAV (FFmpeg) cannot open {what} {path.name}: {exc.strerror or exc}") from exc


def _av_first_frame(container, stream, what: str):
    """Decode one frame, so a file whose header parses but whose stream is garbage fails here."""
    codec = stream.codec_context.codec.canonical_name
    try:
        for frame in container.decode(stream):
            return frame
    except av.FFmpegError as exc:
        reason = exc.strerror or exc
        raise ProbeError(f"PyAV (FFmpeg) cannot decode {what} stream ({codec}): {reason}") from exc
    raise ProbeError(f"PyAV (FFmpeg) found no decodable frame in the {what} stream ({codec})")


def _av_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _av_count_packets(path: Path) -> int:
    """Count video packets without decoding; one packet holds one frame for every codec FFmpeg muxes."""
    try:
        with av.open(str(path)) as container:
            return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
    except av.FFmpegError as exc:
        raise ProbeError(f"PyAV (FFmpeg) cannot count frames: {exc.strerror or exc}") from exc


def _av_mime(format_name: str, path: Path, kind: str) -> str:
    suffix = path.suffix.lower()
    if format_name in _AV_FORMAT_MIME:
        return _AV_FORMAT_MIME[format_name]
    if suffix in _SUFFIX_MIME:
        mime = _SUFFIX_MIME[suffix]
        subtype = mime.split("/", 1)[1]
        # A .mp4/.webm/.ogg holding only audio is audio/*, and the reverse; these subtypes exist as both.
        return f"{kind}/{subtype}" if subtype in _SHARED_SUBTYPES else mime
    if format_name.startswith("mov,mp4"):
        return f"{kind}/mp4"
    if format_name.startswith("matroska"):
        return f"{kind}/x-matroska"
    return _suffix_mime(path)


def _suffix_mime(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _pcm_bit_depth(codec: str) -> int | None:
    if not codec.startswith("pcm_"):
        return None
    digits = "".join(ch for ch in codec.split("_", 1)[1] if ch.isdigit())
    return int(digits) if digits else None


_PROBERS = {
    "image": _probe_image,
    "video": _probe_video,
    "audio": _probe_audio,
    "pdf": _probe_pdf,
    "text": _probe_text,
    "dicom": _probe_dicom,
    "nifti": _probe_nifti,
}
_UNCOMPRESSED_SYNTAXES = {
    (True, True): ImplicitVRLittleEndian,
    (True, False): ImplicitVRLittleEndian,  # implicit VR big endian does not exist in DICOM
    (False, True): ExplicitVRLittleEndian,
    (False, False): ExplicitVRBigEndian,
}
_DECODER_NAMES = {
    "image": "Pillow",
    "video": "PyAV (FFmpeg)",
    "audio": "PyAV (FFmpeg)",
    "pdf": "pypdf",
    "text": "text decoder",
    "dicom": "pydicom",
    "nifti": "NIfTI header check",
}
