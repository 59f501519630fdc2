"""Authentication for every page, not just the ones someone remembered to decorate; and one guard
against request input no door can use."""

import re
from urllib.parse import unquote_to_bytes

from django.contrib.auth.middleware import LoginRequiredMiddleware

from apps.core.error_pages import error_response
from apps.core.errors import database_input_refusal

# These prefixes authenticate on their own (tokens, signatures) and must answer 401, not redirect.
SELF_AUTHENTICATING_PREFIXES = ("/api/", "/v2/public/", "/static/")
# The Encord legacy RPC, matched exactly: a prefix "/public" would also exempt "/publications/...".
SELF_AUTHENTICATING_PATHS = frozenset({"/public", "/public/user"})


class LoginRequiredEverywhereMiddleware(LoginRequiredMiddleware):
    """Django's login-required middleware, minus API routes that carry their own authentication."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(SELF_AUTHENTICATING_PREFIXES) or request.path in SELF_AUTHENTICATING_PATHS:
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


_MALFORMED_PERCENT_BYTES = re.compile(rb"%(?![0-9A-Fa-f]{2})")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def request_target_problem(meta) -> str | None:
    """What makes the request's path or query string unusable, or None.

    Checked once for every door before any view reads them: a NUL reaches PostgreSQL as a value it
    refuses, and text that is not UTF-8 after percent-decoding (``%ED%A0%80``, a cut-off ``%E2%82``,
    or a stray ``%zz``) is something Django would silently turn into U+FFFD, making the request mean
    something other than what was sent. WSGI gives PATH_INFO already percent-decoded (as latin-1
    text) and QUERY_STRING as sent; Django then re-encodes bytes that are not UTF-8 in PATH_INFO as
    ``%XX``, so after decoding no Loupe path holds a ``%`` at all: one there was sent broken (not
    UTF-8), malformed (``%zz``) or encoded twice (``%2500``).
    """
    path = meta.get("PATH_INFO", "")
    if "\x00" in path:
        return "The path contains a NUL character (%00)."
    if "%" in path:
        return "The path has a malformed percent-encoding, or one that is not UTF-8 once decoded."
    return urlencoded_problem(meta.get("QUERY_STRING", ""), what="The query string")


def urlencoded_problem(data: str | bytes, *, what: str) -> str | None:
    """What makes ``application/x-www-form-urlencoded`` text unusable (a query string, a page form's
    body), or None: a malformed ``%``, a NUL, or bytes that are not UTF-8 once decoded (Django would
    turn those into U+FFFD and store something the user did not send)."""
    if not data:
        return None
    if isinstance(data, str):
        try:
            data = data.encode("latin-1")  # WSGI strings carry the bytes as latin-1
        except UnicodeEncodeError:
            return f"{what} contains characters that are not percent-encoded."
    malformed = _MALFORMED_PERCENT_BYTES.search(data)
    if malformed:
        return (f"{what} has a malformed percent-encoding at character {malformed.start()} "
                "(a % not followed by two hex digits).")
    decoded = unquote_to_bytes(data.replace(b"+", b" "))
    if b"\x00" in decoded:
        return f"{what} contains a NUL character (%00)."
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return f"{what} is not valid UTF-8 once percent-decoded."
    return None


class RequestInputGuardMiddleware:
    """Input no door can use, refused at the door with a 400 that says why.

    Before any view: a path or query string ``request_target_problem`` refuses, or a page form's body
    ``urlencoded_problem`` refuses (multipart bodies are not read here: they may be gigabytes, and
    Django drops non-printable characters from their file names itself). After a view failed:
    a ``DataError`` caused by the values sent (``database_input_refusal``), for pages and for the
    Encord routes whose own handler does not map it; REST views map it in their exception handler.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = request_target_problem(request.META)
        if problem is None and request.content_type == FORM_CONTENT_TYPE:
            problem = urlencoded_problem(request.body, what="The form data")
        if problem is not None:
            return error_response(request, 400, problem, with_request_context=False)
        return self.get_response(request)

    def process_exception(self, request, exception):
        refusal = database_input_refusal(exception)
        if refusal is None:
            return None
        return error_response(request, 400, refusal, with_request_context=False)
