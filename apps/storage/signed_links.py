"""Time-limited links to an item's bytes that work without a login (the Encord SDK's ``signedUrl``).

A link is issued only to someone who may read the item at that moment; the token (the item's uuid,
signed with SECRET_KEY and dated) is then the permission, as an S3 presigned URL is. Tokens expire
after ``SIGNED_LINK_MAX_AGE_S`` and stop working when the item or its folder goes to the trash.
"""

from __future__ import annotations

import uuid

from django.core import signing

SALT = "loupe.storage.item-content"
SIGNED_LINK_MAX_AGE_S = 3600


def item_content_token(item_pk) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(item_pk))


def item_content_token_pk(token: str) -> uuid.UUID | None:
    """The item uuid a token was issued for, or None when it is forged, altered or expired."""
    try:
        return uuid.UUID(signing.TimestampSigner(salt=SALT).unsign(token, max_age=SIGNED_LINK_MAX_AGE_S))
    except (signing.BadSignature, ValueError):
        return None
