"""Folder pages: browse, create, rename, move, delete, members, trash; the folder's item grid.
Imports, uploads and the import-job panel are ``apps.imports.views``.

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
from apps.core.pagination import PageTokenError, keyset_page
from apps.core.pages import form_errors, htmx_redirect
from apps.core.selectors import organisation_list
from apps.storage import selectors
from apps.storage.forms import FolderForm, FolderMemberForm, FolderMoveForm
from apps.storage.models import Folder, FolderRole, ItemStatus, ItemType
from apps.storage.permissions import folder_get_for, folder_role
from apps.storage.selectors_items import import_job_list, item_list, item_trash_list
from apps.storage.services import folders as folder_services

ITEM_PAGE_SIZE = 48  # one "load more" step of the folder's item grid
RECENT_JOBS = 8  # jobs listed on a folder page
# Types a folder lists at its top level (DICOM files only ever appear inside a series).
FILTER_TYPES = [(value, label) for value, label in ItemType.choices if value != ItemType.DICOM_FILE]


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
def folder_detail(request, pk):
    folder = folder_get_for(user=request.user, pk=pk)
    role = folder_role(user=request.user, folder=folder)
    can_edit = FolderRole.rank(role) >= FolderRole.rank(FolderRole.EDITOR)
    grid = _item_grid(request, folder)
    if request.htmx and request.htmx.target in ("item-grid", "load-more"):
        partial = "item-grid" if request.htmx.target == "item-grid" else "item-cards"
        return render(request, f"storage/folder.html#{partial}", {"folder": folder, **grid})
    return render(request, "storage/folder.html", {
        "folder": folder,
        "role": role,
        "can_edit": can_edit,
        **grid,
        "jobs": import_job_list(folder=folder)[:RECENT_JOBS],
        "can_admin": role == FolderRole.ADMIN,
        "breadcrumbs": selectors.folder_breadcrumbs(folder=folder),
        "children": selectors.folder_list(user=request.user, parent=folder),
        "members": selectors.folder_members(folder=folder),
        "form": FolderForm(),
        "rename_form": FolderForm(initial={"name": folder.name, "description": folder.description}),
        "move_form": _move_form(request, folder),
        "member_form": FolderMemberForm(),
    })


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
            return htmx_redirect(request, folder.get_absolute_url())
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
            return htmx_redirect(request, folder.get_absolute_url())
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
                return htmx_redirect(request, folder.get_absolute_url())
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


# --------------------------------------------------------------------------- the folder's items


def _item_grid(request, folder: Folder) -> dict:
    """One page of the folder's items, ordered by name (keyset paging on name, uuid)."""
    valid_types = {value for value, _ in FILTER_TYPES}
    item_type = request.GET.get("type", "")
    item_type = item_type if item_type in valid_types else ""
    search = request.GET.get("q", "").strip()[:200]
    items = item_list(folder=folder, item_types=[item_type] if item_type else None, search=search)
    after = request.GET.get("after", "")
    try:
        grid = keyset_page(items.select_related("integration"), ordering=("name", "uuid"), page_size=ITEM_PAGE_SIZE,
                           token=after or None)
    except PageTokenError:  # a stale or tampered link: start again at the first page
        after, grid = "", keyset_page(items.select_related("integration"), ordering=("name", "uuid"),
                                      page_size=ITEM_PAGE_SIZE)
    page = grid.rows
    from apps.storage.views_items import item_thumbnail_url  # views_items builds on this module

    for item in page:
        item.thumb_url = item_thumbnail_url(item)
    return {
        "items": page,
        "next_cursor": grid.next_token or "",
        "item_type": item_type,
        "search": search,
        "filter_types": FILTER_TYPES,
        # While the first page shows items still being probed, the grid refreshes itself.
        "poll_pending": not after and any(item.status == ItemStatus.PENDING for item in page),
    }


def trash_items(user):
    """Trashed items shown on the trash page (one row per item: visible_to filters with subqueries)."""
    return item_trash_list(user=user)
