"""What every Encord route shares: authentication, ``{"message"}`` errors, and query parameters.

The SDK treats any status but 200/204 as an error and shows ``message``; 401/403/404/400 become its
AuthenticationError / AuthorisationError / ResourceNotFoundError / InvalidArgumentsError.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.parsers import StrictJSONParser
from apps.encord_compat import replay
from apps.encord_compat.authentication import V2_AUTHENTICATION

TRUE_VALUES = {"true", "1", "yes"}
BUNDLE_MAX = 1000  # objects per bundled request, the SDK's own bundle limit
FALSE_VALUES = {"false", "0", "no", ""}


def _validation_message(exc: DjangoValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" if field not in ("__all__", "detail") else " ".join(messages)
                         for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)


def _drf_message(detail) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_drf_message(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_drf_message(value) for value in detail)
    return str(detail)


def encord_exception_handler(exc, context):
    """Every refusal as ``{"message": ...}`` with the status the SDK maps to its exceptions."""
    headers = {}
    if isinstance(exc, replay.Answered):
        return exc.stored.as_response()
    if isinstance(exc, DjangoValidationError):
        code, message = status.HTTP_400_BAD_REQUEST, _validation_message(exc)
    elif isinstance(exc, Http404 | exceptions.NotFound):
        code, message = status.HTTP_404_NOT_FOUND, str(exc) or "Not found."
    elif isinstance(exc, DjangoPermissionDenied):
        code, message = status.HTTP_403_FORBIDDEN, str(exc) or "You are not allowed to do this."
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code, message = status.HTTP_401_UNAUTHORIZED, _drf_message(exc.detail)
    elif isinstance(exc, exceptions.APIException):
        code, message = exc.status_code, _drf_message(exc.detail)
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    else:
        return None
    return Response({"message": message}, status=code, headers=headers)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."


def body_size_check(request) -> None:
    """Refuse a body over DATA_UPLOAD_MAX_MEMORY_SIZE with a 413 the SDK shows, before it is read
    (the signature check reads the whole body; Django would otherwise answer a bare 400)."""
    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit is not None and length > limit:
        raise PayloadTooLarge(
            f"The request body is {length:,} bytes; the limit is {limit:,} (DATA_UPLOAD_MAX_MEMORY_SIZE). "
            "Register larger JSON files through the folder page or the REST API's multipart import."
        )


class EncordView(APIView):
    """Base of the ``/v2/public/`` routes: signed or bearer requests, JSON in and out."""

    authentication_classes = V2_AUTHENTICATION
    permission_classes = [IsAuthenticated]
    parser_classes = [StrictJSONParser]  # bodies refused as every REST body is (apps.core.json_input)
    renderer_classes = [JSONRenderer]
    schema = None  # the Encord protocol is documented in spec/encord-compat.md, not in Loupe's OpenAPI

    def get_exception_handler(self):
        return encord_exception_handler

    def initial(self, request, *args, **kwargs):
        body_size_check(request)
        super().initial(request, *args, **kwargs)  # authenticates: a signature is verified here
        if isinstance(request.auth, replay.SignedCredential) and request.method in replay.UNSAFE_METHODS:
            # Before any view code: an identical request that already ran answers here (``Answered``).
            request.encord_claim = replay.signed_request_claim(credential=request.auth)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        claim_pk = getattr(request, "encord_claim", None)
        if claim_pk is not None:
            replay.signed_request_settle(claim_pk=claim_pk, response=response)
            request.encord_claim = None
        return response

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except BaseException:
            # An uncaught error (a 500): the write did not complete, so the SDK's retry must run.
            claim_pk = getattr(getattr(self, "request", None), "encord_claim", None)
            if claim_pk is not None:
                replay.signed_request_release(claim_pk=claim_pk)
            raise


def param(request, name: str, default=None):
    """A query parameter by its camelCase name, or its snake_case spelling."""
    query = request.query_params
    if name in query:
        return query[name]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return query.get(snake, default)


def param_list(request, name: str) -> list[str]:
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return request.query_params.getlist(name) or request.query_params.getlist(snake)


def param_bool(request, name: str, default: bool | None = False) -> bool | None:
    """``True``/``False`` as the SDK sends them (any case); anything else is a 400."""
    raw = param(request, name)
    if raw is None:
        return default
    if raw.lower() in TRUE_VALUES:
        return True
    if raw.lower() in FALSE_VALUES:
        return False
    raise exceptions.ValidationError({name: f"expected True or False, got {raw!r}"})


def param_int(request, name: str, default: int, *, low: int, high: int) -> int:
    raw = param(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise exceptions.ValidationError({name: f"expected an integer, got {raw!r}"}) from exc
    if not low <= value <= high:
        raise exceptions.ValidationError({name: f"must be between {low} and {high}, got {value}"})
    return value


def body_get(data: dict, name: str, default=None):
    """A body field by camelCase name or snake_case spelling."""
    if name in data:
        return data[name]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return data.get(snake, default)


def as_uuid(value, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise exceptions.ValidationError({what: f"not a UUID: {value!r}"}) from exc


def path_uuid(value, what: str) -> uuid.UUID:
    """A UUID from the path; anything else names nothing, so 404."""
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Http404(f"No such {what}.") from exc


def caller_organisation(user):
    """The caller's organisation. Encord calls never name one (an Encord user has exactly one), so a
    Loupe user in several is asked to use a user of one organisation for SDK scripts."""
    from apps.core.selectors import organisation_list

    organisations = organisation_list(user=user)
    if organisations.count() != 1:
        raise exceptions.ValidationError(
            "You belong to several organisations; SDK calls that name none need a user of exactly one."
            if organisations.exists() else "You do not belong to any organisation."
        )
    return organisations.get()


def bundle_patches(request, key: str) -> dict:
    """A bundled patch body ``{key: {uuid: patch}}``, at most ``BUNDLE_MAX`` entries."""
    patches = body_get(body_object(request), key)
    if not isinstance(patches, dict):
        raise exceptions.ValidationError({key: "must be an object of uuid to patch"})
    if len(patches) > BUNDLE_MAX:
        raise exceptions.ValidationError({key: f"at most {BUNDLE_MAX} per request"})
    return patches


def require_in_folder(folder_id, folder, what: str) -> None:
    """Routes name the folder an object is in; an object elsewhere is a 404, as an unknown one."""
    if folder_id != folder.pk:
        raise Http404(f"No such {what} in this folder.")


def base_url(request) -> str:
    """Scheme and host as the caller reached Loupe, for absolute links in responses."""
    return request.build_absolute_uri("/")


def body_object(request) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise exceptions.ValidationError("The body must be a JSON object.")
    return data
