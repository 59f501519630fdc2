"""What every page door shares: redirects that work for htmx and plain posts, service errors on forms.

Public names, so the storage, metadata and imports pages import them from here rather than from
each other's private helpers.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect

from apps.core.errors import ServiceValidationError


def htmx_redirect(request, url: str):
    """Go to ``url``: ``HX-Redirect`` for an htmx request (htmx does not follow a 302), else a 302."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def form_errors(form, exc: ServiceValidationError) -> None:
    """Put a service's field-keyed errors on ``form`` (unknown fields become non-field errors)."""
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)
