"""Reads for accounts, organisations and credentials."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.core.models import ApiToken, Organisation, OrganisationMember, OrganisationRole, PublicKey, User


def api_token_user(*, plaintext: str) -> User | None:
    """The active user behind a token, or None. Records when the token was last used."""
    from apps.core.services import token_digest

    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(plaintext), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


def public_key_list(*, user: User) -> QuerySet[PublicKey]:
    return PublicKey.objects.filter(user=user)


def organisation_memberships(*, user) -> QuerySet[OrganisationMember]:
    """The organisation memberships that grant ``user`` anything right now: none for an anonymous or
    inactive user. Every access rule starts here, so removing the row or deactivating the user ends
    access at once, whatever path did it (page, API, admin, shell).

    ``is_active`` is checked in SQL as well, so a ``user`` object read before a deactivation grants nothing.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return OrganisationMember.objects.none()
    return OrganisationMember.objects.filter(user_id=user.pk, user__is_active=True)


def organisation_list(*, user: User) -> QuerySet[Organisation]:
    return Organisation.objects.filter(pk__in=organisation_memberships(user=user).values("organisation_id"))


def organisation_admin_ids(*, user: User) -> set:
    """Organisations in which ``user`` is an admin (they see everything there)."""
    return set(
        organisation_memberships(user=user).filter(role=OrganisationRole.ADMIN).values_list(
            "organisation_id", flat=True
        )
    )


def organisation_member_list(*, organisation: Organisation) -> QuerySet[OrganisationMember]:
    """The organisation's members by email, with their user and ``folder_role_count`` (roles held on
    its folders, which go when the membership goes)."""
    return (
        OrganisationMember.objects.filter(organisation=organisation)
        .select_related("user")
        .annotate(folder_role_count=Count("folder_roles"))
        .order_by("user__email")
    )


def organisation_is_admin(*, user, organisation: Organisation) -> bool:
    """Whether ``user`` may manage ``organisation``'s members (and its schema): a current, active admin."""
    return organisation.pk in organisation_admin_ids(user=user)
