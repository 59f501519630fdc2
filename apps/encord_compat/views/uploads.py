"""``data-upload-jobs``: ``add_private_data_to_folder_start`` / ``_get_result`` / cancel.

The job is Loupe's import job (the one the UI and REST API start); this view only translates.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.response import Response

from apps.encord_compat.base import (
    EncordView, as_uuid, body_get, body_object, param_int, path_uuid, require_in_folder,
)
from apps.encord_compat.selectors import upload_job_state, upload_job_wait
from apps.encord_compat.services import upload_job_start
from apps.encord_compat.views.folders import folder_for
from apps.storage.models import FolderRole, ImportJob
from apps.storage.selectors_items import import_job_get_for
from apps.imports.services.imports import import_job_cancel
from apps.storage.services.integrations import integration_list

# A long poll holds a web worker thread; the SDK simply asks again, so a short cap costs nothing.
LONG_POLL_MAX_S = 25


def _job(request, folder_uuid, job_uuid) -> ImportJob:
    folder = folder_for(request, folder_uuid)
    job = import_job_get_for(user=request.user, pk=path_uuid(job_uuid, "upload job"))
    require_in_folder(job.folder_id, folder, "upload job")
    return job


class UploadJobsView(EncordView):
    def post(self, request, folder_uuid):
        """Start: ``{externalFiles | dataItems, integrationHash, ignoreErrors, fileName}`` → the job uuid."""
        folder = folder_for(request, folder_uuid, role=FolderRole.EDITOR)
        data = body_object(request)
        integration = None
        integration_id = body_get(data, "integrationHash")
        if integration_id:
            integration = integration_list(organisation=folder.organisation).filter(
                pk=as_uuid(integration_id, "integrationHash")).first()
            if integration is None:
                raise exceptions.ValidationError(
                    {"integrationHash": f"no storage integration {integration_id} in this organisation "
                                        "(list them with user_client.get_cloud_integrations())"})
        job = upload_job_start(
            user=request.user, folder=folder, external_files=body_get(data, "externalFiles"),
            data_items=body_get(data, "dataItems"), integration=integration,
            ignore_errors=bool(body_get(data, "ignoreErrors", False)), file_name=body_get(data, "fileName"),
        )
        return Response(str(job.pk))


class UploadJobView(EncordView):
    def get(self, request, folder_uuid, job_uuid):
        """Progress, long-polled up to ``timeoutSeconds`` (capped) until the job and its probes finish."""
        job = _job(request, folder_uuid, job_uuid)
        timeout = param_int(request, "timeoutSeconds", 60, low=0, high=7 * 24 * 3600)
        job = upload_job_wait(job=job, timeout_s=min(timeout, LONG_POLL_MAX_S))
        return Response(upload_job_state(job=job))


class UploadJobCancelView(EncordView):
    def post(self, request, folder_uuid, job_uuid):
        """``add_data_to_folder_job_cancel``: stop after the current batch."""
        job = import_job_cancel(user=request.user, job=_job(request, folder_uuid, job_uuid))
        state = upload_job_state(job=job)
        return Response({"unitsCancelledCount": state["unitsCancelledCount"]})
