"""REST endpoints for import jobs: submit a registration file into a folder, follow the job, list
what it created and what it refused (JSON or a CSV download), cancel it.

Like every REST door they parse input, call selectors and services, and render: an object the caller
cannot see is a 404, a role that is too low a 403 (raised by the services), a refused write a 400.
"""

from __future__ import annotations

import csv
import json

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from apps.core.api.helpers import FOLDER_PARAMETER, UUID_PARAMETER, UUID_REGEX, pk_or_404, same_404, validated
from apps.core.pagination import CursorPage
from apps.core.parsers import StrictJSONParser
from apps.imports.api.serializers import (
    ImportJobErrorSerializer, ImportJobSerializer, ImportOptionsSerializer, ImportUploadSerializer,
    import_data_refusal,
)
from apps.imports.services import imports as import_services
from apps.storage import selectors_items
from apps.storage.api.item_serializers import ItemSerializer
from apps.storage.models import FolderRole, ImportJob, ImportJobError, Item
from apps.storage.permissions import folder_get_for
from apps.storage.services.integrations import integration_list

ERRORS_CSV_HEADER = ("entry_index", "pointer", "reason", "urls", "stage")
ERRORS_CSV_CHUNK = 2000  # rows fetched per query while streaming; errors.csv of a 500,000-entry file stays flat


class ImportIndexPage(CursorPage):
    ordering = ("import_index",)


class EntryIndexPage(CursorPage):
    ordering = ("entry_index", "id")


@extend_schema(parameters=[FOLDER_PARAMETER], tags=["imports"])
class FolderImportViewSet(viewsets.GenericViewSet):
    """Submit a JSON registration file into a folder, and list the folder's import jobs."""

    queryset = ImportJob.objects.none()
    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, StrictJSONParser]

    @extend_schema(responses=ImportJobSerializer(many=True))
    def list(self, request, folder_uuid=None):
        folder = folder_get_for(user=request.user, pk=pk_or_404(folder_uuid, "No such folder."))
        page = self.paginate_queryset(selectors_items.import_job_list(folder=folder))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer, "application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("integration", OpenApiTypes.UUID, description="storage integration; default built-in"),
            OpenApiParameter("all_or_nothing", bool, description="import nothing if any entry is invalid"),
            OpenApiParameter("skip_duplicate_urls", bool, description="skip entries already in the folder"),
            OpenApiParameter("upsert_metadata", bool, description="with skip_duplicate_urls: replace their metadata"),
        ],
        responses={202: ImportJobSerializer},
        description="Upload a registration file (multipart `file`) or send the registration itself as the JSON "
        "body; options come from form fields or the query string. Editors only. Returns at once; poll the job.",
    )
    def create(self, request, folder_uuid=None):
        folder = folder_get_for(
            user=request.user, pk=pk_or_404(folder_uuid, "No such folder."), role=FolderRole.EDITOR
        )
        if request.content_type.partition(";")[0].strip().lower() == "multipart/form-data":
            # Plain dicts: copying request.data would deep-copy the uploaded file.
            data = validated(ImportUploadSerializer, dict(request.query_params.items()) | dict(request.data.items()))
            options = self._options(folder, data)
            job = import_services.import_job_create(
                user=request.user, folder=folder, fileobj=data["file"], file_name=data["file"].name, **options
            )
        else:
            options = self._options(folder, validated(ImportOptionsSerializer, request.query_params))
            refusal = import_data_refusal(request.data)
            if refusal is not None:
                raise ParseError(refusal)
            job = import_services.import_job_create_from_data(
                user=request.user, folder=folder, data=request.data, **options
            )
        body = ImportJobSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": _job_location(request, job)})

    @staticmethod
    def _options(folder, data: dict) -> dict:
        integration = None
        if data.get("integration"):
            integration = integration_list(organisation=folder.organisation).filter(pk=data["integration"]).first()
            if integration is None:
                raise ValidationError({"integration": ["Unknown storage integration."]})
        return {
            "integration": integration, "all_or_nothing": data["all_or_nothing"],
            "skip_duplicate_urls": data["skip_duplicate_urls"], "upsert_metadata": data["upsert_metadata"],
        }


def _job_location(request, job: ImportJob) -> str:
    return request.build_absolute_uri(reverse("import-job-detail", args=[job.pk]))


class _Echo:
    """A write-through "file" for csv.writer, so rows can be streamed as they are made."""

    def write(self, value: str) -> str:
        return value


class CsvRenderer(BaseRenderer):
    """Lets ``Accept: text/csv`` through content negotiation; the CSV itself is streamed by the view.

    Only error responses (404, 401) are rendered here, as their one-line message.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "detail" in data:
            data = data["detail"]
        return f"{data}\n".encode()


class ImportJobViewSet(viewsets.GenericViewSet):
    """An import job: progress, the items it created, the entries it refused, cancellation."""

    queryset = ImportJob.objects.none()
    serializer_class = ImportJobSerializer
    lookup_field = "uuid"
    lookup_value_regex = UUID_REGEX

    @extend_schema(parameters=[UUID_PARAMETER], responses=ImportJobSerializer,
                   description="Status and counts of an import job.")
    def retrieve(self, request, uuid=None):
        return Response(self.get_serializer(self._job(request, uuid)).data)

    @extend_schema(parameters=[UUID_PARAMETER], responses=ItemSerializer(many=True),
                   description="The items the job created, in file order.")
    @action(detail=True, methods=["get"], pagination_class=ImportIndexPage)
    def items(self, request, uuid=None):
        job = self._job(request, uuid)
        created = Item.objects.live().top_level().filter(import_job=job)
        page = self.paginate_queryset(created)
        return self.get_paginated_response(ItemSerializer(page, many=True).data)

    @extend_schema(parameters=[UUID_PARAMETER], responses=ImportJobErrorSerializer(many=True),
                   description="One error per refused entry (or unreadable file), in file order, "
                   "with its JSON pointer.")
    @action(detail=True, methods=["get"], pagination_class=EntryIndexPage)
    def errors(self, request, uuid=None):
        page = self.paginate_queryset(self._job(request, uuid).errors.all())
        return self.get_paginated_response(ImportJobErrorSerializer(page, many=True).data)

    @extend_schema(
        operation_id="imports_errors_csv", parameters=[UUID_PARAMETER],
        responses={(200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR, description="Header `entry_index,pointer,reason,urls,stage`; `urls` is a JSON list.")},
        description="All of the job's errors as a CSV download.",
    )
    def errors_csv(self, request, uuid=None):
        # Routed in config/api_router.py ahead of the router, whose format-suffix pattern for
        # ``errors`` (``errors\.(?P<format>...)``) would otherwise answer ``errors.csv``.
        job = self._job(request, uuid)
        rows = (_error_csv_row(error) for error in job.errors.all().iterator(chunk_size=ERRORS_CSV_CHUNK))
        writer = csv.writer(_Echo())
        lines = (writer.writerow(row) for row in _prepend(ERRORS_CSV_HEADER, rows))
        response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response

    @extend_schema(parameters=[UUID_PARAMETER], request=None, responses=ImportJobSerializer,
                   description="Stop the job after its current batch; a job not yet started ends at once (editors).")
    @action(detail=True, methods=["post"])
    def cancel(self, request, uuid=None):
        job = import_services.import_job_cancel(user=request.user, job=self._job(request, uuid))
        return Response(self.get_serializer(job).data)

    def _job(self, request, pk) -> ImportJob:
        with same_404("No such import job."):
            return selectors_items.import_job_get_for(user=request.user, pk=pk_or_404(pk, "No such import job."))


def _error_csv_row(error: ImportJobError) -> tuple:
    return error.entry_index, error.pointer, error.reason, json.dumps(error.urls), error.stage


def _prepend(first, rest):
    yield first
    yield from rest


IMPORT_ERRORS_CSV_RENDERERS = [JSONRenderer, CsvRenderer]
