"""Getting an item's bytes onto local disk, and putting previews and renders into media storage.

Probing and previews work on local files (``probing``, ``previews`` and ``sequences`` are
Django-free), so a worker first copies the object an item points at into a temporary directory.
This module owns the rules every such copy must follow:

* Nothing is read through a ``client_only`` integration (Encord's "strict client-only access").

* An ``s3://`` URL is read only with the credentials of the S3 integration the item was imported
  with. ``fetch_to_file`` treats missing credentials as "use boto3's defaults" (the worker's
  environment or instance role), which would let any user read any bucket the server can; so a
  missing or non-S3 integration, or one without keys, is refused here before anything is sent.
* Every other URL goes through the same ``fetch_policy()`` (local roots, the organisation's own uploads, address checks, size cap)
  as any server-side fetch.

Storage names are fixed per item (``previews/<uuid>/<name>``, ``renders/<uuid>.mp4``) and written
with delete-then-save, so a re-run after a crash overwrites rather than piling up ``_abc123`` copies.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.files import File
from django.core.files.storage import default_storage

from apps.storage.fetching import FetchError, fetch_to_file, parse_object_url
from apps.storage.models import StorageIntegration, StorageIntegrationKind
from apps.storage.services.integrations import fetch_policy, s3_credentials, upload_object_foreign

FOREIGN_UPLOAD = "{url} is outside the storage this organisation may read."
PREVIEW_PREFIX = "previews"
RENDER_PREFIX = "renders"
URL_SHOWN_CHARS = 200  # as fetching shortens URLs in its messages
LOCAL_NAME_MAX = 120  # characters of the original file name kept for the local copy (error messages show it)
_UNSAFE_NAME_CHARS = re.compile(r"[^\w.\- ]+")


def url_file_to_local(*, url: str, integration: StorageIntegration | None, directory: Path,
                      organisation_id) -> Path:
    """Copy the object at ``url`` (an item of ``organisation_id``) into ``directory`` and return the
    local path. Only that organisation's uploads can be read (``fetch_policy``).

    The local file keeps the URL's file name (made safe), because decoders name the file in their
    error messages and guess some MIME types from the suffix. Raises ``FetchError`` with a sentence
    for the user; reads through the S3 API need an S3 integration with keys (see the module docstring).
    """
    if integration is not None and integration.client_only:
        raise FetchError("outside_roots", f"{_shown(url)} is in the client-only storage integration "
                                          f"'{integration.name}': Loupe never reads its files.")
    credentials = s3_credentials(integration)
    endpoints = (credentials.endpoint_url,) if credentials and credentials.endpoint_url else ()
    parsed = parse_object_url(url, s3_endpoints=endpoints)
    # The same test as fetching._uses_s3_api: s3:// always, S3 HTTPS URLs only when an integration is given.
    if parsed.kind == "s3" and (parsed.scheme == "s3" or credentials is not None):
        _require_s3_keys(url, integration)
    if upload_object_foreign(parsed, organisation_id=organisation_id):
        raise FetchError("outside_roots", FOREIGN_UPLOAD.format(url=_shown(url)))
    dest = Path(directory) / local_file_name(url)
    fetch_to_file(url, dest=dest, policy=fetch_policy(organisation_id=organisation_id), s3=credentials)
    return dest


def _require_s3_keys(url: str, integration: StorageIntegration | None) -> None:
    shown = _shown(url)
    if integration is None or integration.kind != StorageIntegrationKind.S3:
        used = f"'{integration.name}'" if integration is not None else "no storage integration"
        raise FetchError("s3_error", f"{shown} needs an S3 storage integration; this item uses {used}.")
    credentials = s3_credentials(integration)
    if not credentials.access_key_id or not credentials.secret_access_key:
        reason = (f"{shown}: the S3 integration '{integration.name}' has no access key and secret, "
                  "and Loupe never falls back to the server's own credentials.")
        raise FetchError("s3_error", reason)


def _shown(url: str) -> str:
    return url if len(url) <= URL_SHOWN_CHARS else url[: URL_SHOWN_CHARS - 3] + "..."


def local_file_name(url: str) -> str:
    """A safe local file name for ``url``: its last path segment, decoded, or ``file``."""
    path = url[5:].partition("/")[2] if url.startswith("s3://") else urlsplit(url).path
    name = _UNSAFE_NAME_CHARS.sub("_", unquote(path.rsplit("/", 1)[-1])).strip(" .")
    if len(name) > LOCAL_NAME_MAX:
        suffix = Path(name).suffix[:16]
        name = name[: LOCAL_NAME_MAX - len(suffix)] + suffix
    return name or "file"


def preview_name(item_uuid, file_name: str) -> str:
    """Storage name of one of an item's previews: ``previews/<uuid>/<file_name>``."""
    return f"{PREVIEW_PREFIX}/{item_uuid}/{file_name}"


def render_name(item_uuid) -> str:
    """Storage name of a sequence's rendered video: ``renders/<uuid>.mp4``."""
    return f"{RENDER_PREFIX}/{item_uuid}.mp4"


def storage_put(*, local_path: Path, name: str) -> str:
    """Store a local file in default storage under exactly ``name`` (replacing any file); return the name."""
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(local_path, "rb") as handle:
        return default_storage.save(name, File(handle, name=Path(name).name))
