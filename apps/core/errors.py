"""Errors services raise, and the API's rendering of them.

Services raise ``ServiceValidationError({field: message})``; the REST API turns it into a 400 whose
JSON body names the field, forms attach it to their fields, and the Encord layer into ``{"message"}``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ServiceValidationError(DjangoValidationError):
    """A rejected write; ``message_dict`` maps field names to messages."""

    def __init__(self, errors: dict[str, str | list[str]]):
        super().__init__({key: value if isinstance(value, list) else [value] for key, value in errors.items()})


def api_exception_handler(exc, context):
    """DRF's handler plus service validation errors as field-keyed 400s."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = exception_handler(exc, context)
        if response is not None:
            response.status_code = status.HTTP_401_UNAUTHORIZED
        return response
    return exception_handler(exc, context)
