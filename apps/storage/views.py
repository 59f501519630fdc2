"""Folder pages: browse, create, rename, move, delete, members, trash; the folder's item grid,
imports and uploads, and the import-job panel.

Views parse forms and call the same services as the REST API. htmx requests get fragments
(template partials); plain form posts fall back to full pages, so the UI works without JS too.
Item pages and content serving live in ``views_items``.
"""

from __future__ import annotations

import base64
import csv
import json
import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceValidationError
from apps.core.json_input import json_loads
from apps.core.models import User
from apps.core.selectors import organisation_list
from apps.storage import selectors
from apps.storage.forms import FolderForm, FolderMemberForm, FolderMoveForm, ImportForm, UploadForm
from apps.storage.models import Folder, FolderRole, ImportJob, ItemStatus, ItemType
from apps.storage.permissions import folder_get_for, folder_role
from apps.storage.selectors_items import import_job_get_for, import_job_list, item_list, item_trash_list
from apps.storage.services import folders as folder_services
from apps.storage.services.imports import import_job_cancel, import_job_create
from apps.storage.services.uploads import upload_create

ITEM_PAGE_SIZE = 48  # one "load more" step of the folder's item grid
RECENT_JOBS = 8  # jobs listed on a folder page
ERROR_PAGE_SIZE = 20  # failed entries per page of a finished job's table
# Types a folder lists at its top level (DICOM files only ever appear inside a series).
FILTER_TYPES = [(value, label) for value, label in ItemType.choices if value != ItemType.DICOM_FILE]


def _redirect(request, url: str):
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _form_fragment(request, form, *, submit_label: str):
    """The form again with its errors, posted back to the same URL (status 400)."""
    context = {"form": form, "form_action": request.path, "submit_label": submit_label}
    return render(request, "storage/_folder_form.html", context, status=400)


def _form_errors(form, exc: ServiceValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


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
            return _redirect(request, folder.get_absolute_url())
        except ServiceValidationError as exc:
            _form_errors(form, exc)
    return _form_fragment(request, form, submit_label="Create folder")


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
            return _redirect(request, folder.get_absolute_url())
        except ServiceValidationError as exc:
            _form_errors(form, exc)
    return _form_fragment(request, form, submit_label="Save")


@require_POST
def folder_move(request, pk):
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form = _move_form(request, folder, data=request.POST)
    if form.is_valid():
        parent_id = form.cleaned_data["parent"]
        new_parent = folder_get_for(user=request.user, pk=parent_id) if parent_id else None
        try:
            folder_services.folder_move(user=request.user, folder=folder, new_parent=new_parent)
            return _redirect(request, folder.get_absolute_url())
        except ServiceValidationError as exc:
            _form_errors(form, exc)
    return _form_fragment(request, form, submit_label="Move")


@require_POST
def folder_delete(request, pk):
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.ADMIN)
    parent = folder.parent
    folder_services.folder_trash(user=request.user, folder=folder)
    messages.success(request, f"Folder '{folder.name}' moved to the trash.")
    return _redirect(request, parent.get_absolute_url() if parent else reverse("storage:home"))


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
                return _redirect(request, folder.get_absolute_url())
            except ServiceValidationError as exc:
                _form_errors(form, exc)
    return _form_fragment(request, form, submit_label="Add or change member")


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
    return _redirect(request, reverse("storage:trash"))


# --------------------------------------------------------------------------- the folder's items


def _cursor_encode(name: str, pk) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, str(pk)]).encode()).decode().rstrip("=")


def _cursor_decode(value: str) -> tuple[str, uuid.UUID] | None:
    """``(name, uuid)`` of the last item already shown, or None for a missing or tampered cursor."""
    if not value:
        return None
    try:
        name, pk = json_loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return str(name), uuid.UUID(pk)
    except (ValueError, TypeError):
        return None


def _item_grid(request, folder: Folder) -> dict:
    """One page of the folder's items, ordered by name (keyset paging on name, uuid)."""
    valid_types = {value for value, _ in FILTER_TYPES}
    item_type = request.GET.get("type", "")
    item_type = item_type if item_type in valid_types else ""
    search = request.GET.get("q", "").strip()[:200]
    items = (
        item_list(folder=folder, item_types=[item_type] if item_type else None, search=search)
        .select_related("integration").order_by("name", "uuid")
    )
    after = _cursor_decode(request.GET.get("after", ""))
    if after is not None:
        items = items.filter(Q(name__gt=after[0]) | Q(name=after[0], uuid__gt=after[1]))
    page = list(items[: ITEM_PAGE_SIZE + 1])
    more = len(page) > ITEM_PAGE_SIZE
    page = page[:ITEM_PAGE_SIZE]
    from apps.storage.views_items import item_thumbnail_url  # views_items builds on this module

    for item in page:
        item.thumb_url = item_thumbnail_url(item)
    return {
        "items": page,
        "next_cursor": _cursor_encode(page[-1].name, page[-1].pk) if more else "",
        "item_type": item_type,
        "search": search,
        "filter_types": FILTER_TYPES,
        # While the first page shows items still being probed, the grid refreshes itself.
        "poll_pending": after is None and any(item.status == ItemStatus.PENDING for item in page),
    }


# --------------------------------------------------------------------------- imports and uploads


def _job_panel(request, job: ImportJob, *, status: int = 200, trigger: str = ""):
    """The job panel fragment (or the job's own page for a plain request)."""
    role = folder_role(user=request.user, folder=job.folder)
    errors = None
    if job.is_finished:
        paginator = Paginator(job.errors.all(), ERROR_PAGE_SIZE)
        errors = paginator.get_page(request.GET.get("errors_page"))
    done, probe_failed = job.done, job.probe_failed  # one count query (or none: annotated)
    processed = done + job.skipped + job.failed + probe_failed

    def percent(count: int) -> float:
        return round(100 * count / job.total, 2) if job.total else 0

    context = {
        "job": job, "folder": job.folder, "errors": errors, "processed": processed,
        "bar": {"done": percent(done), "skipped": percent(job.skipped), "failed": percent(job.failed),
                "probe_failed": percent(probe_failed)},
        "can_edit": FolderRole.rank(role) >= FolderRole.rank(FolderRole.EDITOR),
    }
    if not request.htmx:
        context["breadcrumbs"] = selectors.folder_breadcrumbs(folder=job.folder)
        return render(request, "storage/job.html", context, status=status)
    response = render(request, "storage/job.html#job-panel", context, status=status)
    if trigger:
        response["HX-Trigger"] = trigger
    return response


def _refusal(request, folder: Folder, message: str):
    """A refused import or upload: the message in the job slot (htmx) or as a flash message."""
    if request.htmx:
        return render(request, "storage/job.html#job-refused", {"message": message}, status=400)
    messages.error(request, message)
    return redirect(folder.get_absolute_url())


def _messages_of(exc: ServiceValidationError) -> str:
    return " ".join(m for msgs in exc.message_dict.values() for m in msgs)


def _job_created(request, job: ImportJob):
    if request.htmx:
        return _job_panel(request, job, status=201, trigger="jobsChanged")
    return redirect("storage:import-job", pk=job.pk)


@require_POST
def folder_import(request, pk):
    """Start an import job from an uploaded JSON registration file (editors)."""
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refusal(request, folder, "Choose a JSON import file.")
    upload = form.cleaned_data["file"]
    try:
        job = import_job_create(
            user=request.user, folder=folder, fileobj=upload, file_name=upload.name,
            skip_duplicate_urls=form.cleaned_data["skip_duplicate_urls"],
            all_or_nothing=form.cleaned_data["all_or_nothing"],
        )
    except ServiceValidationError as exc:
        return _refusal(request, folder, _messages_of(exc))
    return _job_created(request, job)


@require_POST
def folder_upload(request, pk):
    """Store uploaded files and register them through an import job (editors)."""
    folder = folder_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _refusal(request, folder, "Choose one or more files to upload.")
    try:
        job = upload_create(user=request.user, folder=folder, files=form.cleaned_data["files"])
    except ServiceValidationError as exc:
        return _refusal(request, folder, _messages_of(exc))
    return _job_created(request, job)


@require_GET
def folder_jobs(request, pk):
    """The folder's recent import jobs (a fragment refreshed when a job starts or ends)."""
    folder = folder_get_for(user=request.user, pk=pk)
    return render(request, "storage/folder.html#job-list", {
        "folder": folder, "jobs": import_job_list(folder=folder)[:RECENT_JOBS],
    })


@require_GET
def import_job_detail(request, pk):
    """A job's panel. ``poll=1`` marks htmx's polling; the poll that sees the job end tells the page."""
    job = import_job_get_for(user=request.user, pk=pk)
    ended_now = request.GET.get("poll") == "1" and job.is_finished
    return _job_panel(request, job, trigger="itemsChanged, jobsChanged" if ended_now else "")


@require_POST
def import_job_cancel_view(request, pk):
    job = import_job_get_for(user=request.user, pk=pk)
    job = import_job_cancel(user=request.user, job=job)
    if not request.htmx:
        return redirect("storage:import-job", pk=job.pk)
    return _job_panel(request, job, trigger="jobsChanged")


class _Echo:
    """A write-only file for csv.writer whose ``write`` hands the line back (for streaming)."""

    def write(self, value: str) -> str:
        return value


@require_GET
def import_job_errors_csv(request, pk):
    """Every failed entry of a job as CSV: entry_index, pointer, reason, urls (a JSON array), stage."""
    job = import_job_get_for(user=request.user, pk=pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["entry_index", "pointer", "reason", "urls", "stage"])
        for error in job.errors.order_by("entry_index", "pk").iterator(chunk_size=2000):
            yield writer.writerow([error.entry_index, error.pointer, error.reason,
                                   json.dumps(error.urls, ensure_ascii=False), error.stage])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


def trash_items(user):
    """Trashed items shown on the trash page (one row per item: visible_to filters with subqueries)."""
    return item_trash_list(user=user)
