"""Folder pages: create, the settings page (rename, move, delete, members), trash.
The page that browses a folder's items is the Explorer's (``apps.explorer.views_folder``); imports,
uploads and the import-job panel are ``apps.imports.views``.

Views parse forms and call the same services as the REST API. htmx requests get fragments
(template partials); plain form posts fall back to full pages, so the UI works without JS too.
Item pages and content serving live in ``views_items``.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceValidationError
from apps.core.models import User
from apps.core.pages import form_errors, htmx_redirect
from apps.core.selectors import organisation_list
from apps.storage import selectors
from apps.storage.forms import FolderForm, FolderMemberForm, FolderMoveForm
from apps.storage.models import Folder, FolderRole
from apps.storage.permissions import folder_get_for, folder_role
from apps.storage.selectors_items import item_trash_list
from apps.storage.services import folders as folder_services


def form_fragment(request, form, *, submit_label: str):
    """The form again with its errors, posted back to the same URL (status 400)."""
    context = {"form": form, "form_action": request.path, "submit_label": submit_label}
    return render(request, "storage/_folder_form.html", context, status=400)


@require_GET
def home(request):
    organisations = organisation_list(user=request.user)
    return render(request, "storage/home.html", {
        "organisations": organisations,
        "folders": selectors.folder_list(user=request.user, top_level=True),
        "form": FolderForm(),
    })


@require_POST
def folder_create(request, pk=None):
    parent = folder_get_for(user=request.user, pk=pk) if pk else None
    form = FolderForm(request.POST)
    if form.is_valid():
        organisation = None
        if parent is None:
            organisation = organisation_list(user=request.user).filter(pk=request.POST.get("organisation")).first()
            organisation = organisation or organisation_list(user=request.user).first()
        try:
            folder = folder_services.folder_create(
                user=request.user, parent=parent, organisation=organisation, **form.cleaned_data
            )
            messages.success(request, f"Folder '{folder.name}' created.")
            return htmx_redirect(request, folder.get_absolute_url())
        except ServiceValidationError as exc:
            form_errors(form, exc)
    return form_fragment(request, form, submit_label="Create folder")


@require_GET
def folder_settings(request, pk):
    """The folder's administration (rename, move, members, delete), apart from the page that browses it.
    Editors rename and move; admins also manage members and delete. Viewers have nothing to do here."""
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    role = folder_role(user=request.user, folder=folder)
    return render(request, "storage/folder_settings.html", {
        "folder": folder,
        "role": role,
        "can_admin": role == FolderRole.ADMIN,
        "breadcrumbs": selectors.folder_breadcrumbs(folder=folder),
        "members": selectors.folder_members(folder=folder),
        "rename_form": FolderForm(initial={"name": folder.name, "description": folder.description}),
        "move_form": _move_form(request, folder),
        "member_form": FolderMemberForm(),
    })


def _settings_url(folder: Folder) -> str:
    return reverse("storage:folder-settings", args=[folder.pk])


def _move_form(request, folder: Folder, data=None) -> FolderMoveForm:
    candidates = (
        selectors.folder_list(user=request.user)
        .filter(organisation=folder.organisation)
        .exclude(pk=folder.pk).exclude(path__contains=[folder.pk])
    )
    choices = [(str(f.pk), f.name if not f.path else f"{'  ' * len(f.path)}{f.name}") for f in candidates]
    return FolderMoveForm(data, choices=choices, initial={"parent": str(folder.parent_id or "")})


@require_POST
def folder_rename(request, pk):
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form = FolderForm(request.POST)
    if form.is_valid():
        try:
            folder_services.folder_update(user=request.user, folder=folder, **form.cleaned_data)
            return htmx_redirect(request, _settings_url(folder))
        except ServiceValidationError as exc:
            form_errors(form, exc)
    return form_fragment(request, form, submit_label="Save")


@require_POST
def folder_move(request, pk):
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form = _move_form(request, folder, data=request.POST)
    if form.is_valid():
        parent_id = form.cleaned_data["parent"]
        new_parent = folder_get_for(user=request.user, pk=parent_id) if parent_id else None
        try:
            folder_services.folder_move(user=request.user, folder=folder, new_parent=new_parent)
            return htmx_redirect(request, _settings_url(folder))
        except ServiceValidationError as exc:
            form_errors(form, exc)
    return form_fragment(request, form, submit_label="Move")


@require_POST
def folder_delete(request, pk):
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.ADMIN)
    parent = folder.parent
    folder_services.folder_trash(user=request.user, folder=folder)
    messages.success(request, f"Folder '{folder.name}' moved to the trash.")
    return htmx_redirect(request, parent.get_absolute_url() if parent else reverse("storage:home"))


@require_POST
def folder_member_set(request, pk):
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.ADMIN)
    form = FolderMemberForm(request.POST)
    if form.is_valid():
        member = User.objects.filter(email__iexact=form.cleaned_data["email"]).first()
        if member is None:
            form.add_error("email", "No user with that email.")
        else:
            try:
                folder_services.folder_member_set(
                    user=request.user, folder=folder, member=member, role=form.cleaned_data["role"]
                )
                return htmx_redirect(request, _settings_url(folder))
            except ServiceValidationError as exc:
                form_errors(form, exc)
    return form_fragment(request, form, submit_label="Add or change member")


@require_GET
def trash(request):
    return render(request, "storage/trash.html", {
        "folders": selectors.folder_trash_list(user=request.user),
        "items": trash_items(request.user),
    })


@require_POST
def folder_restore(request, pk):
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.ADMIN, include_trashed=True)
    try:
        folder_services.folder_restore(user=request.user, folder=folder)
        messages.success(request, f"Folder '{folder.name}' restored.")
    except ServiceValidationError as exc:
        messages.error(request, "; ".join(m for msgs in exc.message_dict.values() for m in msgs))
    return htmx_redirect(request, reverse("storage:trash"))


def trash_items(user):
    """Trashed items shown on the trash page (one row per item: visible_to filters with subqueries)."""
    return item_trash_list(user=user)
