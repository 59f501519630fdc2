"""Reads of the metadata schema."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.core.models import Organisation
from apps.metadata.models import KeyState, KeyType, MetadataKey
from apps.metadata.validation import Schema, schema_to_sdk


def schema_keys(*, organisation: Organisation) -> QuerySet[MetadataKey]:
    """Every key the organisation ever declared (active, soft-deleted and tombstones), by name."""
    return MetadataKey.objects.filter(organisation=organisation).order_by("name")


def schema_for(*, organisation_id) -> Schema:
    """The organisation's active keys as a ``validation.Schema`` (what metadata writes validate against)."""
    keys = MetadataKey.objects.filter(organisation_id=organisation_id, state=KeyState.ACTIVE)
    return Schema.of(key.spec() for key in keys)


def schema_key_get(*, organisation: Organisation, name: str) -> MetadataKey | None:
    """One key of the organisation by exact name, in any state."""
    return MetadataKey.objects.filter(organisation=organisation, name=name).first()


def schema_sdk_body(*, organisation: Organisation) -> dict | None:
    """The schema as the SDK's v2 body (tombstones included), or None when no key was ever declared."""
    entries = [key.sdk_entry() for key in schema_keys(organisation=organisation)]
    return schema_to_sdk(entries) if entries else None


def embedding_key(*, organisation_id, name: str) -> MetadataKey | None:
    """The active embedding key of that name, or None (also when the name is another type or deleted)."""
    return MetadataKey.objects.filter(
        organisation_id=organisation_id, name=name, state=KeyState.ACTIVE, type=KeyType.EMBEDDING
    ).first()


def embedding_keys(*, organisation_id) -> QuerySet[MetadataKey]:
    """The organisation's active embedding keys, by name."""
    return MetadataKey.objects.filter(
        organisation_id=organisation_id, state=KeyState.ACTIVE, type=KeyType.EMBEDDING
    ).order_by("name")


def schema_can_edit(*, user, organisation_id) -> bool:
    """Whether ``user`` may change the organisation's schema: its admins (and superusers, for the Django admin)."""
    from apps.core.models import OrganisationRole
    from apps.core.selectors import organisation_memberships

    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return organisation_memberships(user=user).filter(
        organisation_id=organisation_id, role=OrganisationRole.ADMIN
    ).exists()
