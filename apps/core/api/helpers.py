"""What every REST door shares: path ids, one 404 for "unknown" and "not yours", input validation,
the organisation a request acts on.

Public names, so the storage, metadata, imports and Encord doors import them from here rather than
from each other's private helpers.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager

from django.http import Http404

from apps.core.errors import ServiceValidationError
from apps.core.selectors import organisation_list
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

UUID_REGEX = "[0-9a-fA-F-]{36}"
UUID_PARAMETER = OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)
FOLDER_PARAMETER = OpenApiParameter("folder_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)


def pk_or_404(value, message: str) -> uuid.UUID:
    """``value`` (a path segment) as a UUID; a 404 with ``message`` when it is not one."""
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Http404(message) from exc


@contextmanager
def same_404(message: str):
    """One answer for "unknown" and "not yours": the selectors' folder check says "No such folder.",
    which would tell an outsider that the item or job exists."""
    try:
        yield
    except Http404 as exc:
        raise Http404(message) from exc


def validated(serializer_class, data) -> dict:
    """``data`` checked by ``serializer_class``; a field-keyed 400 when it is refused."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def request_organisation(user, requested=None):
    """The organisation ``requested`` names among ``user``'s, else their only one (field-keyed 400s)."""
    organisations = organisation_list(user=user)
    if requested is not None:  # "" names no organisation: refused, not read as "mine"
        try:
            organisation = organisations.filter(pk=uuid.UUID(str(requested))).first()
        except ValueError:
            organisation = None
        if organisation is None:
            raise ServiceValidationError({"organisation": "Unknown organisation."})
        return organisation
    found = list(organisations[:2])
    if not found:
        raise ServiceValidationError({"organisation": "You do not belong to any organisation."})
    if len(found) > 1:
        raise ServiceValidationError({"organisation": "You belong to several organisations: name one."})
    return found[0]
