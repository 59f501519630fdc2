"""``POST /public``: the legacy RPC (``{query_type, query_method, values: {uid, payload}}``).

Replies use the legacy envelope ``{"status": <code>, "response": ...}``, which the SDK reads whatever
the HTTP status; refusals also carry the real HTTP status so nothing else mistakes them for success.
Dataset query types arrive with the curation features; until then they answer RESOURCE_NOT_FOUND
with the reason in ``payload`` (which the SDK shows).

A legacy signature covers only the body: no time, no path, no method. A captured request verifies for
ever, so a legacy-signed call may only **read** (``query_method`` GET, and a GET handler never writes);
anything else is a 403 before any handler runs. Writes over this protocol need an API token.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.response import Response

from apps.encord_compat.authentication import LEGACY_AUTHENTICATION, LegacySignatureAuthentication
from apps.encord_compat.base import EncordView
from apps.storage.services.integrations import integration_list_for_user

ERRORS = {401: "AUTHENTICATION_ERROR", 403: "AUTHORISATION_ERROR", 404: "RESOURCE_NOT_FOUND_ERROR",
          405: "METHOD_NOT_ALLOWED_ERROR"}


def legacy_exception_handler(exc, context):
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        code = 401
    elif isinstance(exc, exceptions.APIException):
        code = exc.status_code
    else:
        return None
    return Response({"status": code, "response": [ERRORS.get(code, "UNKNOWN_ERROR")],
                     "payload": str(getattr(exc, "detail", exc))}, status=code)


def _cloud_integrations(user, uid, payload):
    return [{"id": str(integration.pk), "title": integration.name}
            for integration in integration_list_for_user(user=user)]


# (query_type, query_method) -> handler. A GET handler must not write: legacy signatures can be replayed.
HANDLERS = {("cloudintegration", "GET"): _cloud_integrations}
READ_METHODS = frozenset({"GET"})
LEGACY_WRITE_REFUSED = (
    "A legacy signature (POST /public) carries no time, so a captured request could be replayed for ever: "
    "it may only read (query_method GET, not {method!r}). Use an API token to write "
    "(EncordUserClient.create_with_bearer_token)."
)


class LegacyRpcView(EncordView):
    authentication_classes = LEGACY_AUTHENTICATION

    def get_exception_handler(self):
        return legacy_exception_handler

    def post(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        query_type, method = body.get("query_type"), str(body.get("query_method", "")).upper()
        values = body.get("values") or {}
        if method not in READ_METHODS and isinstance(request.successful_authenticator, LegacySignatureAuthentication):
            raise exceptions.PermissionDenied(LEGACY_WRITE_REFUSED.format(method=method))
        handler = HANDLERS.get((query_type, method))
        if handler is None:
            return Response({"status": 404, "response": ["RESOURCE_NOT_FOUND_ERROR"],
                             "payload": f"Loupe does not serve {query_type!r} {method} over the legacy protocol."})
        return Response({"status": 200, "response": handler(request.user, values.get("uid"), values.get("payload"))})
