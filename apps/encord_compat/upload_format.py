"""The SDK's ``DataUploadItems`` (typed upload objects) rewritten as Loupe's JSON import format.

``folder.add_private_data_to_folder_start`` sends either the user's Encord JSON file as it is
(``externalFiles``, which Loupe's import format already is) or ``dataItems``: the same registrations
as camelCase objects, with group members as lists. This module only reshapes; every rule (URLs,
titles, limits, metadata) is checked by the import job, which reports errors with JSON pointers.
"""

from __future__ import annotations

from typing import Any

# dataItems key -> import-format key, for single-file entries
SINGLE_FILE_KEYS = {"videos": "videos", "images": "images", "audio": "audio", "text": "text", "pdf": "pdf",
                    "nifti": "nifti"}
MEDIA_BLOCKS = ("videoMetadata", "imageMetadata", "audioMetadata")
# upload kinds Loupe has no data type for; refused up front rather than silently dropped
UNSUPPORTED_KEYS = {"imageGroupsFromItems": "image groups made from existing items",
                    "timeSeries": "time series", "scenes": "scenes"}
OPTION_KEYS = {"skipDuplicateUrls": "skip_duplicate_urls", "upsertMetadata": "upsert_metadata",
               "skip_duplicate_urls": "skip_duplicate_urls", "upsert_metadata": "upsert_metadata"}


class UploadFormatError(ValueError):
    """A ``dataItems`` body Loupe cannot take; the message names the key."""


def data_items_to_import(data_items: dict) -> dict:
    """Loupe's import-format document for a ``dataItems`` object."""
    if not isinstance(data_items, dict):
        raise UploadFormatError("dataItems must be an object.")
    document: dict[str, Any] = {}
    for key, value in data_items.items():
        if key in OPTION_KEYS:
            document[OPTION_KEYS[key]] = value
        elif key in UNSUPPORTED_KEYS:
            if value:
                raise UploadFormatError(f"dataItems.{key}: Loupe does not register {UNSUPPORTED_KEYS[key]}.")
        elif key in SINGLE_FILE_KEYS:
            document[SINGLE_FILE_KEYS[key]] = [_single(entry) for entry in _entries(key, value)]
        elif key in ("imageGroups", "image_groups"):
            document["image_groups"] = [_group(entry, "images", "url") for entry in _entries(key, value)]
        elif key in ("dicomSeries", "dicom_series"):
            document["dicom_series"] = [_group(entry, "dicomFiles", "url") for entry in _entries(key, value)]
        else:
            raise UploadFormatError(f"dataItems.{key}: unknown key.")
    return {key: value for key, value in document.items() if value != []}


def _entries(key: str, value) -> list:
    if not isinstance(value, list):
        raise UploadFormatError(f"dataItems.{key} must be a list.")
    return value


def _common(entry: dict) -> dict:
    out = {}
    if entry.get("title") is not None:
        out["title"] = entry["title"]
    metadata = entry.get("clientMetadata", entry.get("client_metadata"))
    if metadata:
        out["clientMetadata"] = metadata
    return out


def _single(entry) -> dict:
    if not isinstance(entry, dict):
        return entry  # the import job reports it at its position
    out = {"objectUrl": entry.get("objectUrl", entry.get("object_url"))} | _common(entry)
    for block in MEDIA_BLOCKS:
        if entry.get(block) is not None:
            out[block] = entry[block]
    return out


def _group(entry, members_key: str, url_key: str) -> dict:
    if not isinstance(entry, dict):
        return entry
    out = _common(entry)
    if entry.get("createVideo", entry.get("create_video")):
        out["createVideo"] = True
    members = entry.get(members_key) or entry.get("dicom_files") or []
    for position, member in enumerate(members):
        out[f"objectUrl_{position}"] = member.get(url_key) if isinstance(member, dict) else member
    return out
