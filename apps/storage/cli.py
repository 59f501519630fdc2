"""Folder arguments of the job-submitting management commands (``import_json``, ``import_metadata``).

The user, organisation, exit-code and progress rules are ``apps.core.job_cli``'s; folders are storage's.
"""

from __future__ import annotations

import uuid

from django.http import Http404

from apps.core import job_cli
from apps.core.models import User
from apps.storage.permissions import folder_get_for
from apps.storage.selectors import folder_breadcrumbs, folder_by_path


def folder_argument(user: User, value: str, organisation_name: str | None):
    """``--folder``: a folder uuid, or a path such as ``site-1/cam-2`` in the user's organisation."""
    try:
        pk = uuid.UUID(value)
    except ValueError:
        pk = None
    if pk is not None:
        try:
            return folder_get_for(user=user, pk=pk)
        except Http404:
            raise job_cli.bad(f"No folder {value} that {user.email} can see.") from None
    organisation = job_cli.acting_organisation(user, organisation_name)
    folder = folder_by_path(user=user, organisation=organisation, path=value)
    if folder is None:
        raise job_cli.bad(f"No folder at path '{value}' in {organisation.name} that {user.email} can see.")
    return folder


def folder_path(folder) -> str:
    return "/".join(f.name for f in folder_breadcrumbs(folder=folder))
