"""Storage integrations: the built-in one, S3 ones, and the fetch settings derived from them."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
import re

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from apps.core.crypto import decrypt, encrypt
from apps.core.errors import ServiceValidationError
from apps.core.models import Organisation, OrganisationRole, User
from apps.storage.fetching import FetchPolicy, S3Credentials, policy_from_strings
from apps.storage.models import StorageIntegration, StorageIntegrationKind
from apps.storage.permissions import organisation_require_member

BUILTIN_NAME = "Public URLs and local files"
ENDPOINT_PATTERN = re.compile(r"https?://[A-Za-z0-9.\-\[\]:]+(:\d+)?(/\S*)?")

UPLOAD_PREFIX = "uploads"  # where files uploaded through Loupe are kept in the default storage


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


def fetch_policy() -> FetchPolicy:
    """What server-side fetches may reach: admin-configured local roots (plus Loupe's own uploads)."""
    roots = [*settings.LOUPE_LOCAL_ROOTS, str(Path(settings.MEDIA_ROOT) / UPLOAD_PREFIX)]
    return policy_from_strings(
        local_roots=roots, allow_hosts=settings.LOUPE_FETCH_ALLOW_HOSTS,
        timeout=settings.LOUPE_FETCH_TIMEOUT_S, max_bytes=settings.LOUPE_FETCH_MAX_BYTES,
    )


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
