"""Error answers for requests no view answered itself: Django's 400/403/404/500 handlers and the
request guard, in the format of the door that was knocked on.

REST paths (``/api/``) answer ``{"detail": ...}`` as DRF does, Encord v2 routes ``{"message": ...}``
(what the SDK shows), the legacy RPC its ``{"status", "response", "payload"}`` envelope, and pages a
Loupe page (``templates/<status>.html``) that says what happened and nothing about the server: no
traceback, settings or paths. The 500 page renders without a request context, so it needs no
database, session or user (the failure may be the database).
"""

from __future__ import annotations

import logging

from django.http import HttpResponse, JsonResponse
from django.template import loader

logger = logging.getLogger(__name__)

# Paths whose answers are JSON; which shape depends on the door (see the module docstring).
API_PREFIX = "/api/"
ENCORD_PREFIX = "/v2/public/"
ENCORD_LEGACY_PATHS = frozenset({"/public", "/public/user"})
LEGACY_ERRORS = {400: "INVALID_ARGUMENTS_ERROR", 401: "AUTHENTICATION_ERROR", 403: "AUTHORISATION_ERROR",
                 404: "RESOURCE_NOT_FOUND_ERROR"}

DEFAULT_MESSAGES = {
    400: "The request could not be understood.",
    403: "You are not allowed to do this.",
    404: "Not found.",
    500: "Something went wrong on our side; it has been logged.",
}


def error_response(request, status: int, message: str | None = None, *, with_request_context: bool = True):
    """An error answer for ``request`` in its door's format; ``message`` is shown to the caller."""
    message = message or DEFAULT_MESSAGES.get(status, "Error.")
    path = request.path_info if request is not None else ""
    if path.startswith(API_PREFIX):
        return JsonResponse({"detail": message}, status=status)
    if path.startswith(ENCORD_PREFIX):
        return JsonResponse({"message": message}, status=status)
    if path in ENCORD_LEGACY_PATHS:
        return JsonResponse({"status": status, "response": [LEGACY_ERRORS.get(status, "UNKNOWN_ERROR")],
                             "payload": message}, status=status)
    template = loader.get_template(f"{status}.html")
    context = {"reason": message, "status": status}
    body = template.render(context, request if with_request_context else None)
    return HttpResponse(body, status=status)


def bad_request(request, exception=None):
    """``handler400``: SuspiciousOperation, a disallowed host, a body over the upload limit."""
    return error_response(request, 400, DEFAULT_MESSAGES[400], with_request_context=False)


def permission_denied(request, exception=None):
    """``handler403``: the message of a PermissionDenied raised by a page (Loupe's own words)."""
    message = str(exception) if exception is not None and str(exception) else None
    return error_response(request, 403, message)


def page_not_found(request, exception=None):
    """``handler404``: the same words whether the thing does not exist or is not the caller's to see."""
    return error_response(request, 404, "This page does not exist, or you are not allowed to see it."
                          if not request.path_info.startswith((API_PREFIX, ENCORD_PREFIX)) else None)


def server_error(request):
    """``handler500``: nothing about the failure reaches the caller (the log has the traceback)."""
    return error_response(request, 500, with_request_context=False)


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: a stale form or blocked cookies, said in words a user can act on."""
    return error_response(request, 403, "This form has expired or your browser blocked its cookie; "
                          "reload the page and submit it again.", with_request_context=False)
