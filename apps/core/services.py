"""Writes for accounts, organisations and credentials."""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied
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


def organisation_member_add(
    *, organisation: Organisation, email: str, role: str, by: User | None
) -> OrganisationMember:
    """Add the existing user with ``email`` to ``organisation`` with ``role``.

    ``by`` must be an admin of the organisation (``None``: a trusted caller such as a management
    command). Refused with a field-keyed error when no user has that email address (accounts are
    created by a staff member in the Django admin, or by ``createsuperuser``) or they already belong
    to the organisation (change their role instead). A new member starts with no folder roles.
    """
    email = (email or "").strip()
    if not email:
        raise ServiceValidationError({"email": "Enter the email address of an existing Loupe user."})
    with transaction.atomic():
        _organisation_lock(organisation=organisation, by=by)
        _role_check(role)
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise ServiceValidationError({"email": "No Loupe user has this email address."})
        if OrganisationMember.objects.filter(organisation=organisation, user=user).exists():
            raise ServiceValidationError(
                {"email": f"{user.email} is already a member; change their role instead."}
            )
        return OrganisationMember.objects.create(organisation=organisation, user=user, role=role)


def organisation_member_set(
    *, organisation: Organisation, user: User, role: str, by: User | None = None
) -> OrganisationMember:
    """Make ``user`` a member of ``organisation`` with ``role`` (created or changed).

    ``by`` must be an admin of the organisation (``None``: a trusted caller, e.g. ``createsuperuser``
    or a script). The last admin cannot be made a member: every organisation keeps someone who can
    manage it. Changing a role keeps the person's folder roles.
    """
    with transaction.atomic():
        _organisation_lock(organisation=organisation, by=by)
        _role_check(role)
        member = OrganisationMember.objects.filter(organisation=organisation, user=user).first()
        if member is None:
            return OrganisationMember.objects.create(organisation=organisation, user=user, role=role)
        if member.role == OrganisationRole.ADMIN and role != OrganisationRole.ADMIN:
            _require_another_admin(member=member, action="made a member")
        if member.role != role:
            member.role = role
            member.save(update_fields=["role", "updated_at"])
        return member


def organisation_member_remove(*, organisation: Organisation, user: User, by: User | None) -> None:
    """Remove ``user`` from ``organisation``: their access to its folders, items and jobs ends with this
    commit, by every door (tokens, keys and sessions included), and their folder roles in it are deleted
    with the membership (a database cascade), so being added again later starts with none.

    ``by`` must be an admin of the organisation (``None``: a trusted caller). The last admin cannot be
    removed. The user account itself stays (it may belong to other organisations).
    """
    with transaction.atomic():
        _organisation_lock(organisation=organisation, by=by)
        member = OrganisationMember.objects.filter(organisation=organisation, user=user).first()
        if member is None:
            raise ServiceValidationError({"user": f"{user.email} is not a member of {organisation.name}."})
        if member.role == OrganisationRole.ADMIN:
            _require_another_admin(member=member, action="removed")
        member.delete()


def _organisation_lock(*, organisation: Organisation, by: User | None) -> None:
    """Lock the organisation's row so membership changes in it run one at a time (two admins removing
    each other at once cannot leave it without one), then check ``by`` is one of its admins."""
    Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
    if by is None:
        return
    from apps.core.selectors import organisation_is_admin

    if not organisation_is_admin(user=by, organisation=organisation):
        raise PermissionDenied("Only organisation admins can manage its members.")


def _role_check(role: str) -> None:
    if role not in OrganisationRole.values:
        raise ServiceValidationError({"role": f"must be one of {', '.join(OrganisationRole.values)}"})


def _require_another_admin(*, member: OrganisationMember, action: str) -> None:
    others = OrganisationMember.objects.filter(
        organisation_id=member.organisation_id, role=OrganisationRole.ADMIN, user__is_active=True
    ).exclude(pk=member.pk)
    if not others.exists():
        raise ServiceValidationError(
            {"role" if action == "made a member" else "user":
             f"{member.user.email} is the last admin of {member.organisation.name} and cannot be {action}; "
             "make someone else an admin first."}
        )


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
