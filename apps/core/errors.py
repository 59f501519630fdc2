"""Errors services raise, and the API's rendering of them.

Services raise ``ServiceValidationError({field: message})``; the REST API turns it into a 400 whose
JSON body names the field, forms attach it to their fields, and the Encord layer into ``{"message"}``.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger(__name__)

# SQLSTATEs (class 22, "data exception") that mean the value sent cannot be stored in or read as its
# column's type: the input's fault, so a 400 with PostgreSQL's own words. Anything else stays a 500,
# since it is Loupe's bug (a query the code built wrong must not be passed off as the caller's).
INPUT_SQLSTATES = {
    "22P02": "a value is not valid for its type",  # invalid_text_representation
    "22003": "a number is out of range for its field",  # numeric_value_out_of_range
    "22P05": "a string holds a character the database cannot store",  # untranslatable_character
    "22021": "a string holds a character the database cannot store",  # character_not_in_repertoire
    "22001": "a text is longer than its field allows",  # string_data_right_truncation
    "22008": "a date or time is out of range",  # datetime_field_overflow
    "22007": "a date or time is malformed",  # invalid_datetime_format
}


class ServiceValidationError(DjangoValidationError):
    """A rejected write; ``message_dict`` maps field names to messages."""

    def __init__(self, errors: dict[str, str | list[str]]):
        super().__init__({key: value if isinstance(value, list) else [value] for key, value in errors.items()})


class UpstreamServiceError(Exception):
    """A service the request needed, run by someone else (an organisation's embedding endpoint), failed:
    the request was fine, so the API answers 502 with ``message_dict`` (field-keyed, like a 400's)."""

    def __init__(self, errors: dict[str, str]):
        self.message_dict = {key: [value] for key, value in errors.items()}
        super().__init__("; ".join(errors.values()))


def database_input_refusal(exc: BaseException) -> str | None:
    """The reason to give for a ``DataError`` caused by the values sent (see ``INPUT_SQLSTATES``), else None.

    Every door validates what it can first; this is the net under it, for values only the database
    checks (a bigint range a serializer does not know, a NUL in a text column). Each is logged with its
    traceback, so a door that should have refused the value earlier is still visible.
    """
    if not isinstance(exc, DataError):
        return None
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate in INPUT_SQLSTATES:
        primary = getattr(getattr(cause, "diag", None), "message_primary", None) or ""
        reason = f"The database cannot store this input: {INPUT_SQLSTATES[sqlstate]}"
        reason += f" ({primary})." if primary else "."
    elif sqlstate is None and "NUL (0x00)" in str(cause):  # psycopg refuses these before sending
        reason = "The database cannot store this input: a text contains a NUL character (\\u0000)."
    else:
        return None
    logger.warning("Refused input the database cannot store: %s", reason, exc_info=exc)
    return reason


def api_exception_handler(exc, context):
    """DRF's handler plus service validation errors as field-keyed 400s and unstorable input as a 400."""
    refusal = database_input_refusal(exc)
    if refusal is not None:
        set_rollback()
        return Response({"detail": refusal}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, UpstreamServiceError):
        return Response(exc.message_dict, status=status.HTTP_502_BAD_GATEWAY)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = exception_handler(exc, context)
        if response is not None:
            response.status_code = status.HTTP_401_UNAUTHORIZED
        return response
    return exception_handler(exc, context)
