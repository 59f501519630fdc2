"""Writes for accounts, organisations and credentials."""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.errors import ServiceValidationError
from apps.core.models import ApiToken, Organisation, OrganisationMember, OrganisationRole, PublicKey, User

TOKEN_PREFIX = "loupe_"
TOKEN_SECRET_BYTES = 32


def token_digest(token: str) -> str:
    """SHA-256 of a token. Tokens are 256-bit random, so a fast unsalted hash is the right tool."""
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def organisation_default_get_or_create() -> Organisation:
    """The organisation the first start creates; superusers join it as admins."""
    org = Organisation.objects.filter(is_default=True).first()
    if org is None:
        org, _ = Organisation.objects.get_or_create(
            name=settings.LOUPE_DEFAULT_ORGANISATION, defaults={"is_default": True}
        )
    return org


def organisation_member_set(*, organisation: Organisation, user: User, role: str) -> OrganisationMember:
    if role not in OrganisationRole.values:
        raise ServiceValidationError({"role": f"must be one of {', '.join(OrganisationRole.values)}"})
    member, _ = OrganisationMember.objects.update_or_create(
        organisation=organisation, user=user, defaults={"role": role}
    )
    return member


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; return the row and the plaintext, which is never retrievable again."""
    name = (name or "").strip()
    if not name:
        raise ServiceValidationError({"name": "A token needs a name."})
    if len(name) > 100:
        raise ServiceValidationError({"name": "At most 100 characters."})
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_SECRET_BYTES)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=plaintext[: len(TOKEN_PREFIX) + 6], digest=token_digest(plaintext)
    )
    return token, plaintext


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    return token


def public_key_parse(openssh: str) -> tuple[str, str]:
    """Validate an OpenSSH ``ssh-ed25519 AAAA... comment`` line; return (raw key hex, SHA256 fingerprint)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = (openssh or "").strip()
    if not text:
        raise ServiceValidationError({"openssh": "Paste the contents of your .pub file."})
    if not text.startswith("ssh-ed25519 "):
        raise ServiceValidationError(
            {"openssh": "Only Ed25519 keys are accepted (a line starting with 'ssh-ed25519 ')."}
        )
    try:
        key = serialization.load_ssh_public_key(text.encode())
    except (ValueError, TypeError) as exc:
        raise ServiceValidationError({"openssh": f"Not a valid OpenSSH public key: {exc}"}) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ServiceValidationError({"openssh": "Only Ed25519 keys are accepted."})
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    blob = base64.b64decode(text.split()[1])
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return raw.hex(), fingerprint


def public_key_add(*, user: User, openssh: str, name: str = "") -> PublicKey:
    """Register an Ed25519 key for signed API requests. A key can belong to one user only."""
    key_hex, fingerprint = public_key_parse(openssh)
    if PublicKey.objects.filter(key_hex=key_hex).exists():
        raise ServiceValidationError({"openssh": "This key is already registered."})
    comment = " ".join(openssh.strip().split()[2:])
    return PublicKey.objects.create(
        user=user,
        name=(name or comment or fingerprint)[:100],
        key_hex=key_hex,
        openssh=openssh.strip(),
        fingerprint=fingerprint,
    )


def public_key_delete(*, key: PublicKey) -> None:
    key.delete()
