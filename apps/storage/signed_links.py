"""Time-limited links to an item's bytes that work without a login (the Encord SDK's ``signedUrl``).

A link is issued only to someone who may read the item at that moment. The token (the item's uuid and
the user's id, signed with SECRET_KEY and dated) is then the permission, as an S3 presigned URL is.
Tokens expire after ``SIGNED_LINK_MAX_AGE_S``, stop working when the item or its folder goes to the
trash, and stop working the moment their user may no longer read the item (removed from the
organisation or the folder, deactivated). A token without a user (issued before links named one) is
refused.
"""

from __future__ import annotations

import uuid

from django.core import signing

SALT = "loupe.storage.item-content"
SIGNED_LINK_MAX_AGE_S = 3600


def item_content_token(item_pk, user_pk: int) -> str:
    """A token for ``item_pk``, valid only while user ``user_pk`` may read the item."""
    value = f"{item_pk}:{user_pk}"
    return signing.TimestampSigner(salt=SALT).sign(value)


def item_content_token_claims(token: str) -> tuple[uuid.UUID, int | None] | None:
    """(item uuid, user id or None) a token was issued for, or None when it is forged, altered or expired."""
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=SIGNED_LINK_MAX_AGE_S)
        item_pk, _, user_pk = value.partition(":")
        return uuid.UUID(item_pk), int(user_pk) if user_pk else None
    except (signing.BadSignature, ValueError):
        return None
