"""Import pages: submit a registration file or upload files into a folder, the job panel (progress,
failed entries, cancel) and its errors as CSV.

Views parse forms and call the same services as the REST API; htmx requests get fragments.
"""

from __future__ import annotations

import csv
import json

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceValidationError
from apps.core.pagination import PageTokenError, keyset_page
from apps.imports.forms import ImportForm, UploadForm
from apps.imports.services.imports import import_job_cancel, import_job_create
from apps.imports.services.uploads import upload_create
from apps.storage import selectors
from apps.storage.models import Folder, FolderRole, ImportJob
from apps.storage.permissions import folder_get_for, folder_role
from apps.storage.selectors_items import RECENT_JOBS, import_job_get_for, import_job_list

ERROR_PAGE_SIZE = 20  # failed entries per page of a finished job's table


def _job_panel(request, job: ImportJob, *, status: int = 200, trigger: str = ""):
    """The job panel fragment (or the job's own page for a plain request)."""
    role = folder_role(user=request.user, folder=job.folder)
    errors = None
    if job.is_finished:
        errors = _error_page(job, request.GET.get("errors_after", ""))
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
        return render(request, "imports/job.html", context, status=status)
    response = render(request, "imports/job.html#job-panel", context, status=status)
    if trigger:
        response["HX-Trigger"] = trigger
    return response


def _error_page(job: ImportJob, token: str) -> dict:
    """One page of a finished job's failed entries in file order (keyset: no OFFSET scan at page 10,000)."""
    rows = job.errors.all()
    try:
        page = keyset_page(rows, ordering=("entry_index", "pk"), page_size=ERROR_PAGE_SIZE, token=token or None)
    except PageTokenError:  # a stale or tampered link: the first page
        page = keyset_page(rows, ordering=("entry_index", "pk"), page_size=ERROR_PAGE_SIZE)
    return {"rows": page.rows, "count": rows.count(), "next": page.next_token, "previous": page.previous_token}


def _refusal(request, folder: Folder, message: str):
    """A refused import or upload: the message in the job slot (htmx) or as a flash message."""
    if request.htmx:
        return render(request, "imports/job.html#job-refused", {"message": message}, status=400)
    messages.error(request, message)
    return redirect(folder.get_absolute_url())


def _messages_of(exc: ServiceValidationError) -> str:
    return " ".join(m for msgs in exc.message_dict.values() for m in msgs)


def _job_created(request, job: ImportJob):
    if request.htmx:
        return _job_panel(request, job, status=201, trigger="jobsChanged")
    return redirect("imports:import-job", pk=job.pk)


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
    return render(request, "storage/_folder_jobs.html", {
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
        return redirect("imports:import-job", pk=job.pk)
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
