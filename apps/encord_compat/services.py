"""Writes the Encord protocol needs beyond Loupe's own services (which do all the real work)."""

from __future__ import annotations


from django.db import transaction

from apps.core.errors import ServiceValidationError
from apps.core.json_input import json_loads
from apps.encord_compat.models import UploadJobOptions
from apps.encord_compat.upload_format import UploadFormatError, data_items_to_import
from apps.storage.models import Folder, ImportJob, StorageIntegration
from apps.storage.services.imports import import_job_create_from_data


def upload_job_start(
    *, user, folder: Folder, external_files, data_items, integration: StorageIntegration | None,
    ignore_errors: bool, file_name: str | None,
) -> ImportJob:
    """Queue the import job behind ``add_private_data_to_folder_start`` (the UI's and API's job)."""
    if (external_files is None) == (data_items is None):
        raise ServiceValidationError({"externalFiles": "Send exactly one of externalFiles and dataItems."})
    if external_files is not None:
        try:
            document = json_loads(external_files) if isinstance(external_files, str) else external_files
        except ValueError as exc:
            raise ServiceValidationError({"externalFiles": f"not valid JSON: {exc}"}) from exc
    else:
        try:
            document = data_items_to_import(data_items)
        except UploadFormatError as exc:
            raise ServiceValidationError({"dataItems": str(exc)}) from exc
    if not isinstance(document, dict):
        raise ServiceValidationError({"externalFiles": "The registration must be a JSON object."})
    with transaction.atomic():
        job = import_job_create_from_data(user=user, folder=folder, data=document, integration=integration)
        if file_name:
            ImportJob.objects.filter(pk=job.pk).update(file_name=file_name[-255:])
        UploadJobOptions.objects.create(import_job=job, ignore_errors=ignore_errors)
    return job
