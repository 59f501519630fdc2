"""The storage integrations page: every integration's id (what imports and the Encord SDK name), the
local directories ``file://`` URLs may read and where uploads are kept, and, for organisation admins,
a form to add an S3-compatible bucket."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.core.errors import ServiceValidationError
from apps.core.models import Organisation
from apps.core.selectors import organisation_admin_ids
from apps.storage.forms import IntegrationForm
from apps.storage.services.integrations import (
    UPLOADS_DIRECTORY, integration_list_for_user, integration_s3_create_for,
)


def _local_roots() -> list[dict]:
    """``LOUPE_LOCAL_ROOTS`` as configured, each with the directory it resolves to and whether it exists
    (a root that is missing or a symlink elsewhere is the usual reason a ``file://`` entry is refused)."""
    roots = []
    for root in settings.LOUPE_LOCAL_ROOTS:
        resolved = str(Path(root).resolve())
        roots.append({"path": root, "resolved": resolved if resolved != root else "", "exists": os.path.isdir(root)})
    return roots


def _uploads_location() -> str:
    """Where files uploaded through Loupe are stored: the S3 prefix, or the directory under MEDIA_ROOT."""
    bucket = getattr(default_storage, "bucket_name", None)
    if bucket:
        location = getattr(default_storage, "location", "").strip("/")
        return f"s3://{bucket}/{location + '/' if location else ''}{UPLOADS_DIRECTORY}/"
    return str(Path(settings.MEDIA_ROOT, UPLOADS_DIRECTORY).resolve()) + "/"


def _context(request, form):
    integrations = integration_list_for_user(user=request.user)
    return {"integrations": integrations, "form": form,
            "several": len({integration.organisation_id for integration in integrations}) > 1,
            "local_roots": _local_roots(), "uploads_location": _uploads_location()}


def _admin_organisations(user):
    return Organisation.objects.filter(pk__in=organisation_admin_ids(user=user)).order_by("name")


@require_http_methods(["GET", "POST"])
def integrations(request):
    admin_orgs = _admin_organisations(request.user)
    form = IntegrationForm(request.POST or None, organisations=admin_orgs) if admin_orgs else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Only organisation admins may add storage integrations.")
        if form.is_valid():
            data = dict(form.cleaned_data)
            organisation = admin_orgs.get(pk=data.pop("organisation"))
            try:
                integration_s3_create_for(user=request.user, organisation=organisation, **data)
                return redirect("storage:integrations")
            except ServiceValidationError as exc:
                form.add_error(None, exc)
    return render(request, "storage/integrations.html", _context(request, form))
