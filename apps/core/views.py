"""Account pages (API tokens, SSH keys) and the health endpoint."""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core import selectors, services
from apps.core.errors import ServiceValidationError
from apps.core.forms import ApiTokenForm, PublicKeyForm

logger = logging.getLogger(__name__)


@require_GET
def healthz(request):
    """Database, Redis and worker state as JSON; 503 when any of them is down.

    Deliberately open (load balancers and ``docker compose`` health checks have no credentials); it
    reveals only up/down states and versions, no data.
    """
    from apps.core.health import health_report

    ok, report = health_report()
    response = JsonResponse({"status": "ok" if ok else "degraded", **report}, status=200 if ok else 503)
    if not ok:
        # A 503 here is a report, not a server error: logged once as a warning naming what is down,
        # instead of Django's "ERROR Service Unavailable" (seen at every start while the worker boots).
        down = sorted(name for name, state in report.items() if isinstance(state, dict) and not state.get("ok"))
        logger.warning("healthz: degraded (down: %s)", ", ".join(down) or "unknown")
        response._has_been_logged = True
    return response


@require_GET
def tokens(request):
    return render(request, "core/tokens.html", _tokens_context(request, form=ApiTokenForm()))


@require_POST
def token_create(request):
    form = ApiTokenForm(request.POST)
    created = None
    if form.is_valid():
        try:
            _, created = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
            form = ApiTokenForm()
        except ServiceValidationError as exc:
            form.add_error(None, exc)
    return render(request, "core/tokens.html#token-panel", _tokens_context(request, form=form, created=created))


@require_http_methods(["POST", "DELETE"])
def token_revoke(request, pk: int):
    services.api_token_revoke(token=get_object_or_404(selectors.api_token_list(user=request.user), pk=pk))
    return render(request, "core/tokens.html#token-panel", _tokens_context(request, form=ApiTokenForm()))


def _tokens_context(request, *, form, created=None) -> dict:
    return {"tokens": selectors.api_token_list(user=request.user), "form": form, "created": created}


@require_GET
def keys(request):
    return render(request, "core/keys.html", _keys_context(request, form=PublicKeyForm()))


@require_POST
def key_create(request):
    form = PublicKeyForm(request.POST)
    if form.is_valid():
        try:
            services.public_key_add(
                user=request.user, openssh=form.cleaned_data["openssh"], name=form.cleaned_data["name"]
            )
            form = PublicKeyForm()
        except ServiceValidationError as exc:
            for field, messages in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
    return render(request, "core/keys.html#key-panel", _keys_context(request, form=form))


@require_http_methods(["POST", "DELETE"])
def key_delete(request, pk: int):
    services.public_key_delete(key=get_object_or_404(selectors.public_key_list(user=request.user), pk=pk))
    return render(request, "core/keys.html#key-panel", _keys_context(request, form=PublicKeyForm()))


def _keys_context(request, *, form) -> dict:
    return {"keys": selectors.public_key_list(user=request.user), "form": form}
