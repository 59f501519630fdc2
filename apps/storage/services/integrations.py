"""Storage integrations: the built-in one, S3 ones, and the fetch settings derived from them."""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from apps.core.crypto import decrypt, encrypt
from apps.core.errors import ServiceValidationError
from apps.core.models import Organisation, OrganisationRole, User
from apps.storage.fetching import FetchPolicy, ParsedUrl, S3Credentials, policy_from_strings
from apps.storage.models import StorageIntegration, StorageIntegrationKind
from apps.storage.permissions import organisation_require_member

BUILTIN_NAME = "Public URLs and local files"
ENDPOINT_PATTERN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d+)?(/\S*)?")


@transaction.atomic
def integration_builtin_get_or_create(*, organisation: Organisation) -> StorageIntegration:
    """Every organisation's default integration: public HTTP(S) URLs and the configured local roots."""
    integration, _ = StorageIntegration.objects.get_or_create(
        organisation=organisation, kind=StorageIntegrationKind.BUILTIN, defaults={"name": BUILTIN_NAME}
    )
    return integration


def integration_s3_create(
    *, organisation: Organisation, name: str, endpoint_url: str = "", region: str = "",
    access_key_id: str = "", secret_access_key: str = "", client_only: bool = False, allow_write: bool = False,
) -> StorageIntegration:
    """An S3-compatible bucket integration; credentials are stored encrypted."""
    name = (name or "").strip()
    if not name:
        raise ServiceValidationError({"name": "An integration needs a name."})
    if endpoint_url and not ENDPOINT_PATTERN.fullmatch(endpoint_url):
        raise ServiceValidationError({"endpoint_url": "Must look like http(s)://host[:port][/path]."})
    if StorageIntegration.objects.filter(organisation=organisation, name=name).exists():
        raise ServiceValidationError({"name": f"An integration named '{name}' already exists."})
    try:
        with transaction.atomic():
            return _integration_s3_insert(
                organisation=organisation, name=name, endpoint_url=endpoint_url, region=region,
                access_key_id=access_key_id, secret_access_key=secret_access_key, client_only=client_only,
                allow_write=allow_write,
            )
    except IntegrityError as exc:  # a concurrent create took the name
        raise ServiceValidationError({"name": f"An integration named '{name}' already exists."}) from exc


def _integration_s3_insert(
    *, organisation, name, endpoint_url, region, access_key_id, secret_access_key, client_only, allow_write
) -> StorageIntegration:
    return StorageIntegration.objects.create(
        organisation=organisation, name=name, kind=StorageIntegrationKind.S3, endpoint_url=endpoint_url,
        region=region, access_key_id_encrypted=encrypt(access_key_id),
        secret_access_key_encrypted=encrypt(secret_access_key), client_only=client_only, allow_write=allow_write,
    )


UPLOADS_DIRECTORY = "uploads"  # under MEDIA_ROOT: one directory per organisation (see uploads.py)


def fetch_policy(*, organisation_id) -> FetchPolicy:
    """What server-side fetches for an item of ``organisation_id`` may reach: the admin-configured
    local roots, and of Loupe's own media (MEDIA_ROOT) only the organisation's uploads
    (``upload_directory_owned``): never another organisation's uploads, previews or import files.

    The resolved path is what counts, whatever the URL says (``..``, symlinks, percent-encoding,
    doubled slashes), and it holds even when a local root contains MEDIA_ROOT.
    """
    policy = policy_from_strings(
        local_roots=settings.LOUPE_LOCAL_ROOTS, allow_hosts=settings.LOUPE_FETCH_ALLOW_HOSTS,
        timeout=settings.LOUPE_FETCH_TIMEOUT_S, max_bytes=settings.LOUPE_FETCH_MAX_BYTES,
    )
    return dataclasses.replace(
        policy, tenant_root=Path(settings.MEDIA_ROOT) / UPLOADS_DIRECTORY,
        tenant_owns=functools.partial(upload_directory_owned, organisation_id=organisation_id),
        private_roots=(Path(settings.MEDIA_ROOT),),
    )


def upload_object_foreign(parsed: ParsedUrl, *, organisation_id) -> bool:
    """Whether an S3 object URL names Loupe's own S3 media storage (the bucket, under its ``location``)
    anywhere but the organisation's uploads (``<location>/uploads/<organisation uuid>/...``): another
    organisation's uploads, previews or import files. Every organisation's "Loupe storage" integration
    carries the same keys, so the key itself decides. The key is also checked with dot segments and
    doubled slashes collapsed, in case an S3-compatible server normalises them."""
    from django.core.files.storage import default_storage
    from storages.backends.s3 import S3Storage
    from storages.utils import safe_join

    storage = default_storage
    if parsed.kind != "s3" or not isinstance(storage, S3Storage):  # isinstance sees the lazy object's class
        return False
    if (parsed.bucket or "").lower() != storage.bucket_name.lower():
        return False
    media = storage.location.strip("/") + "/" if storage.location.strip("/") else ""
    uploads = safe_join(storage.location, UPLOADS_DIRECTORY) + "/"
    key = parsed.key or ""
    for candidate in {key, re.sub("/{2,}", "/", posixpath.normpath("/" + key)).lstrip("/")}:
        if not candidate.startswith(media):
            continue  # the bucket's other objects are not Loupe's media
        owner = candidate[len(uploads):].split("/", 1)[0] if candidate.startswith(uploads) else ""
        if not upload_directory_owned(owner, organisation_id=organisation_id):
            return True
    return False


def upload_directory_owned(name: str, *, organisation_id) -> bool:
    """Whether ``MEDIA_ROOT/uploads/<name>`` belongs to the organisation: its own ``<organisation uuid>``
    directory, or (uploads stored before they were filed by organisation) the ``<folder uuid>``
    directory of one of its folders. Only the canonical uuid spelling names a directory."""
    try:
        canonical = str(uuid.UUID(name)) == name
    except ValueError:
        return False
    if not canonical or organisation_id is None:
        return False
    from apps.storage.models import Folder

    return name == str(organisation_id) or Folder.objects.filter(pk=name, organisation_id=organisation_id).exists()


def s3_credentials(integration: StorageIntegration | None) -> S3Credentials | None:
    """Credentials for an S3 integration; None for the built-in one (no bucket access at all)."""
    if integration is None or integration.kind != StorageIntegrationKind.S3:
        return None
    return S3Credentials(
        endpoint_url=integration.endpoint_url or None, region=integration.region or None,
        access_key_id=decrypt(integration.access_key_id_encrypted) or None,
        secret_access_key=decrypt(integration.secret_access_key_encrypted) or None,
    )


def integration_list(*, organisation: Organisation) -> QuerySet[StorageIntegration]:
    """The organisation's integrations by name, the built-in one included (created if it is missing)."""
    integration_builtin_get_or_create(organisation=organisation)
    return StorageIntegration.objects.filter(organisation=organisation).order_by("name")


def integration_list_for_user(*, user: User, organisations=None) -> list[StorageIntegration]:
    """Every integration of the user's organisations (or of ``organisations``, a subset of them), by
    organisation name then integration name, each with its ``organisation`` loaded."""
    from apps.core.selectors import organisation_list

    organisations = organisation_list(user=user) if organisations is None else organisations
    for organisation in organisations:
        integration_builtin_get_or_create(organisation=organisation)
    return list(StorageIntegration.objects.filter(organisation__in=organisations).select_related("organisation")
                .order_by("organisation__name", "name"))


@transaction.atomic
def integration_s3_create_for(
    *, user: User, organisation: Organisation, name: str, endpoint_url: str = "", region: str = "",
    access_key_id: str = "", secret_access_key: str = "", client_only: bool = False, allow_write: bool = False,
) -> StorageIntegration:
    """``integration_s3_create`` on behalf of a person: only admins of the organisation may add one.

    Someone outside the organisation gets a 404 (``Http404``), a plain member a ``PermissionDenied``.
    """
    if organisation_require_member(user=user, organisation=organisation) != OrganisationRole.ADMIN:
        raise PermissionDenied("Only organisation admins may add storage integrations.")
    return integration_s3_create(
        organisation=organisation, name=name, endpoint_url=endpoint_url, region=region,
        access_key_id=access_key_id, secret_access_key=secret_access_key, client_only=client_only,
        allow_write=allow_write,
    )
