"""Uploads: files sent through Loupe itself, stored in media storage and registered like an import.

``upload_create`` checks every file (type, size) before it writes any, stores each one under
``uploads/<organisation uuid>/<folder uuid>/<new uuid>/<safe file name>`` in Django's default storage
(uploads belong to their organisation: see ``integrations.fetch_policy``), and registers them
through the same import job as a JSON registration (``import_job_create_from_data``), so uploads get
the same job, counters, probing and previews. ``stored_upload_location`` decides the URLs:

* local media storage: ``file://`` URLs under the built-in integration; an organisation's fetch
  policy (``fetch_policy(organisation_id=)``) opens ``MEDIA_ROOT/uploads/<its uuid>`` and no other
  organisation's directory, which is what lets the workers read them and nobody else register them;
* S3-compatible storage (``LOUPE_S3_BUCKET``): ``s3://<bucket>/<key>`` URLs under the organisation's
  "Loupe storage" integration, which carries the storage's own endpoint, region and keys.

A refused request leaves nothing behind: a refusal happens before the first write, and a failure
after it deletes what was written.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import get_valid_filename
from storages.backends.s3 import S3Storage
from storages.utils import safe_join

from apps.core.errors import ServiceValidationError
from apps.core.models import Organisation, User
from apps.storage.models import Folder, FolderRole, ImportJob, StorageIntegration, StorageIntegrationKind
from apps.storage.permissions import folder_require
from apps.imports.services.imports import import_job_create_from_data
from apps.storage.services.integrations import UPLOADS_DIRECTORY, integration_s3_create

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = UPLOADS_DIRECTORY  # uploads/<organisation>/...: fetch_policy opens only the organisation's own
STORAGE_INTEGRATION_NAME = "Loupe storage"  # the S3 integration uploads in S3 media storage are read through
FILENAME_MAX = 150  # characters of the stored name; the item's title keeps the same name
SNIFF_BYTES = 512  # enough for every signature below (DICOM's "DICM" sits at offset 128)

# Import-format data key per kind; DICOM files of one upload become one series.
DATA_KEYS = {
    "image": "images", "video": "videos", "audio": "audio", "pdf": "pdf", "text": "text", "nifti": "nifti",
    "dicom": "dicom_series",
}
EXTENSION_KINDS = {
    **dict.fromkeys((".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"), "image"),
    **dict.fromkeys((".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ts", ".ogv", ".3gp"),
                    "video"),
    **dict.fromkeys((".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff"),
                    "audio"),
    ".pdf": "pdf",
    **dict.fromkeys((".txt", ".text", ".md", ".csv", ".tsv", ".log"), "text"),
    **dict.fromkeys((".dcm", ".dicom"), "dicom"),
    **dict.fromkeys((".nii", ".nii.gz"), "nifti"),
}
SUPPORTED = "images, videos, audio, PDF, plain text, DICOM (.dcm) and NIfTI (.nii, .nii.gz)"


@dataclass(frozen=True)
class _Checked:
    """One accepted file: what it is and where it will be stored."""

    upload: object
    name: str
    kind: str
    storage_name: str


# --------------------------------------------------------------------------- names and types


def upload_safe_filename(name: str) -> str:
    """A file name with no directory part, no ``..``, only safe characters, at most FILENAME_MAX long.

    ``get_valid_filename`` keeps letters, digits, ``-``, ``_`` and ``.``; leading dots are dropped
    so nothing becomes hidden or a relative-path component. Empty results become ``upload``.
    """
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")
    try:
        safe = get_valid_filename(base).lstrip(".")
    except SuspiciousFileOperation:  # "", "." and ".."
        safe = ""
    safe = safe or "upload"
    if len(safe) > FILENAME_MAX:
        stem, suffix = _split_suffix(safe)
        safe = stem[: FILENAME_MAX - len(suffix)] + suffix
    return safe


def _split_suffix(name: str) -> tuple[str, str]:
    lower = name.lower()
    if lower.endswith(".nii.gz"):
        return name[:-7], name[-7:]
    stem, suffix = os.path.splitext(name)
    return stem, suffix


def _content_kinds(head: bytes) -> tuple[str, ...]:
    """Kinds a file's first bytes prove it could be (empty when no signature matches).

    Only binary signatures: text has none, and is known by its extension alone.
    """
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")):
        return ("image",)
    if (head[:4] == b"RIFF" and head[8:12] == b"WEBP") or head[:4] in (b"II*\x00", b"MM\x00*"):
        return ("image",)
    if head[:2] == b"BM" and head[6:10] == bytes(4) and head[14:15] in (b"\x0c", b"(", b"@", b"l", b"|"):
        return ("image",)  # BMP: reserved words zero, a known DIB header size
    if head.startswith(b"%PDF-"):
        return ("pdf",)
    if head[128:132] == b"DICM":
        return ("dicom",)
    if int.from_bytes(head[:4], "little") == 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return ("nifti",)
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[:4] == b"fLaC" or head[:3] == b"ID3":
        return ("audio",)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ("video",)
    if head[4:8] == b"ftyp" or head[:4] in (b"\x1a\x45\xdf\xa3", b"OggS"):
        return ("video", "audio")  # MP4/MOV, Matroska/WebM and Ogg hold either
    if head[:4] == b"\x00\x00\x01\xba" or (head[:1] == head[188:189] == head[376:377] == b"G"):
        return ("video",)  # MPEG program stream; MPEG-TS packets are 188 bytes, each starting with 'G'
    return ()


def upload_detect_kind(*, name: str, head: bytes) -> str | None:
    """The kind of an uploaded file from its extension and first bytes, or None when unsupported.

    A definite content signature wins over the extension (a PNG named ``.jpg`` is still an image, a
    PDF named ``.txt`` a PDF); otherwise the extension decides; a file with neither is refused.
    """
    stem, suffix = _split_suffix(name)
    by_extension = EXTENSION_KINDS.get(suffix.lower()) if stem else None
    by_content = _content_kinds(head)
    if by_extension and (not by_content or by_extension in by_content):
        return by_extension
    if by_content:
        return by_content[0]
    return by_extension


# --------------------------------------------------------------------------- the service


def _check_files(*, folder: Folder, files: list) -> list[_Checked]:
    """Refuse the whole request (nothing written yet) on the first unsupported or too large file."""
    if not files:
        raise ServiceValidationError({"files": "Choose at least one file to upload."})
    limit = settings.LOUPE_UPLOAD_MAX_BYTES
    checked = []
    for upload in files:
        original = getattr(upload, "name", "") or "upload"
        name = upload_safe_filename(original)
        size = upload.size
        if size > limit:
            raise ServiceValidationError({"files": (
                f"'{original}' is {size:,} bytes; the upload limit is {limit:,} bytes per file. "
                "Nothing was uploaded."
            )})
        upload.seek(0)
        head = upload.read(SNIFF_BYTES)
        upload.seek(0)
        kind = upload_detect_kind(name=name, head=head)
        if kind is None:
            raise ServiceValidationError({"files": (
                f"'{original}' is not a file type Loupe can register (supported: {SUPPORTED}). "
                "Nothing was uploaded."
            )})
        storage_name = f"{UPLOAD_PREFIX}/{folder.organisation_id}/{folder.pk}/{uuid.uuid4()}/{name}"
        checked.append(_Checked(upload=upload, name=name, kind=kind, storage_name=storage_name))
    return checked


def _registration(checked: list[_Checked], urls: dict[str, str]) -> dict:
    """The JSON registration for the stored files, in upload order; DICOM files form one series."""
    data: dict[str, list] = {}
    dicoms = [c for c in checked if c.kind == "dicom"]
    for item in checked:
        if item.kind != "dicom":
            entry = {"objectUrl": urls[item.storage_name], "title": item.name}
            data.setdefault(DATA_KEYS[item.kind], []).append(entry)
    if dicoms:
        series = {"title": dicoms[0].name if len(dicoms) == 1 else f"DICOM series ({len(dicoms)} files)"}
        series.update({f"objectUrl_{n}": urls[c.storage_name] for n, c in enumerate(dicoms)})
        data["dicom_series"] = [series]
    return data


def stored_upload_location(*, organisation: Organisation, name: str) -> tuple[str, StorageIntegration | None]:
    """The URL a file stored in default storage under ``name`` is registered with, and its integration.

    S3 media storage: ``s3://<bucket>/<prefix/><name>`` and the organisation's "Loupe storage" S3
    integration (created on first use with the storage's endpoint, region and keys). Local media
    storage: the file's ``file://`` URL and None (the built-in integration). Any other storage is refused.
    """
    storage = default_storage
    if isinstance(storage, S3Storage):  # default_storage is lazy; isinstance sees the wrapped class
        key = safe_join(storage.location, name)
        return f"s3://{storage.bucket_name}/{key}", _storage_integration(organisation, storage)
    try:
        path = storage.path(name)
    except NotImplementedError as exc:
        message = "Uploads need local (MEDIA_ROOT) or S3 media storage."
        raise ServiceValidationError({"files": message}) from exc
    return Path(path).resolve().as_uri(), None


def _storage_integration(organisation: Organisation, storage: S3Storage) -> StorageIntegration:
    """The organisation's "Loupe storage" integration, created with ``storage``'s settings if missing."""
    # Workers never fall back to the server's own AWS identity, so items without keys could not be read.
    if not (storage.access_key and storage.secret_key):
        raise ServiceValidationError({"files": (
            "Uploads to S3 media storage need LOUPE_S3_ACCESS_KEY_ID and LOUPE_S3_SECRET_ACCESS_KEY.")})
    integration = _storage_integration_get(organisation)
    if integration is None:
        try:
            return integration_s3_create(
                organisation=organisation, name=STORAGE_INTEGRATION_NAME,
                endpoint_url=storage.endpoint_url or "", region=storage.region_name or "",
                access_key_id=storage.access_key, secret_access_key=storage.secret_key,
            )
        except ServiceValidationError:
            integration = _storage_integration_get(organisation)  # a concurrent upload created it first
            if integration is None:
                raise
    if integration.kind != StorageIntegrationKind.S3 or integration.client_only:
        raise ServiceValidationError({"files": (
            f"The storage integration '{STORAGE_INTEGRATION_NAME}' is not a readable S3 integration; "
            "rename it so uploads can use that name.")})
    return integration


def _storage_integration_get(organisation: Organisation) -> StorageIntegration | None:
    return StorageIntegration.objects.filter(organisation=organisation, name=STORAGE_INTEGRATION_NAME).first()


def _job_file_name(checked: list[_Checked]) -> str:
    names = ", ".join(c.name for c in checked)
    label = f"Upload: {names}"
    return label if len(label) <= 255 else label[:254] + "…"


def upload_create(*, user: User, folder: Folder, files: list) -> ImportJob:
    """Store ``files`` in ``folder`` and start the import job that registers them; returns the job.

    Editors of the folder may upload. Every file is checked first: its type (from extension and
    content: image, video, audio, PDF, text, DICOM ``.dcm``, NIfTI) and its size against
    ``LOUPE_UPLOAD_MAX_BYTES`` per file. One refused file refuses the request, with a message that
    names it, and nothing is written. Items are titled with the sanitised file name.
    """
    if folder.deleted_at is not None:
        raise ServiceValidationError({"folder": "The folder is in the trash."})
    folder_require(user=user, folder=folder, role=FolderRole.EDITOR)
    checked = _check_files(folder=folder, files=list(files))
    written: list[str] = []
    try:
        urls, integration = {}, None
        for item in checked:
            stored = default_storage.save(item.storage_name, item.upload)
            written.append(stored)
            urls[item.storage_name], integration = stored_upload_location(
                organisation=folder.organisation, name=stored)
        with transaction.atomic():
            job = import_job_create_from_data(
                user=user, folder=folder, data=_registration(checked, urls),
                file_name=_job_file_name(checked), integration=integration,
            )
    except BaseException:
        _delete_written(written)
        raise
    logger.info("upload of %d file(s) into folder %s: job %s", len(checked), folder.pk, job.pk)
    return job


def _delete_written(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # cleanup after a failure must not hide it (OSError locally, botocore on S3)
            logger.warning("could not remove %s after a failed upload", name, exc_info=True)
            continue
        try:
            Path(default_storage.path(name)).parent.rmdir()  # the per-file uuid directory, empty now
        except NotImplementedError:
            pass  # object storage has no directories
        except OSError:
            logger.warning("could not remove the directory of %s after a failed upload", name)
