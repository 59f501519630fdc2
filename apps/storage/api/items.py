"""REST endpoints for items, import jobs and storage integrations.

Like the folder endpoints they parse input, call selectors and services, and render: an object the
caller cannot see is a 404, a role that is too low a 403 (raised by the services), and a refused
write a field-keyed 400 (``apps.core.errors``).
"""

from __future__ import annotations

import csv
import json
import uuid as uuid_module
from contextlib import contextmanager

from django.http import Http404, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from apps.core.pagination import CursorPage
from apps.core.parsers import StrictJSONParser
from apps.core.selectors import organisation_list
from apps.storage import selectors_items
from apps.storage.api.item_serializers import (
    ImportJobErrorSerializer, ImportJobSerializer, ImportOptionsSerializer, ImportUploadSerializer,
    IntegrationCreateSerializer, IntegrationSerializer, ItemListQuerySerializer, ItemSerializer,
    ItemsMovedSerializer, ItemsMoveSerializer, ItemsRestoredSerializer, ItemsSerializer, ItemsTrashedSerializer,
    ItemUpdateSerializer, import_data_refusal,
)
from apps.storage.api.views import _default_organisation, _valid
from apps.storage.models import FolderRole, ImportJob, ImportJobError, Item, StorageIntegration
from apps.storage.permissions import folder_get_for
from apps.storage.services import imports as import_services
from apps.storage.services import items as item_services
from apps.storage.services.integrations import (
    integration_list, integration_list_for_user, integration_s3_create_for,
)

UUID_REGEX = "[0-9a-fA-F-]{36}"
ERRORS_CSV_HEADER = ("entry_index", "pointer", "reason", "urls", "stage")
ERRORS_CSV_CHUNK = 2000  # rows fetched per query while streaming; errors.csv of a 500,000-entry file stays flat


class ItemNamePage(CursorPage):
    """A folder's items by name; uuid breaks ties so pages never skip or repeat an item."""

    ordering = ("name", "uuid")


class ChildPositionPage(CursorPage):
    ordering = ("position",)


class ImportIndexPage(CursorPage):
    ordering = ("import_index",)


class EntryIndexPage(CursorPage):
    ordering = ("entry_index", "id")


class TrashPage(CursorPage):
    ordering = ("-deleted_at", "uuid")


def _pk_or_404(value, message: str) -> uuid_module.UUID:
    try:
        return uuid_module.UUID(str(value))
    except ValueError as exc:
        raise Http404(message) from exc


@contextmanager
def _same_404(message: str):
    """One answer for "unknown" and "not yours": the selectors' folder check says "No such folder.",
    which would tell an outsider that the item or job exists."""
    try:
        yield
    except Http404 as exc:
        raise Http404(message) from exc


FOLDER_PARAMETER = OpenApiParameter("folder_uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)
UUID_PARAMETER = OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)


# --------------------------------------------------------------------------- items


@extend_schema(parameters=[FOLDER_PARAMETER], tags=["items"])
class FolderItemViewSet(viewsets.GenericViewSet):
    """The items of a folder (files and containers; children of containers are under ``/items/{uuid}/children``)."""

    queryset = Item.objects.none()
    serializer_class = ItemSerializer
    pagination_class = ItemNamePage

    @extend_schema(
        parameters=[
            OpenApiParameter("type", str, many=True, explode=True, description="item types to keep (repeatable)"),
            OpenApiParameter("search", str, description="part of the name, any case"),
            OpenApiParameter("page_size", int, description="at most 1000; default 100"),
        ],
        responses=ItemSerializer(many=True),
    )
    def list(self, request, folder_uuid=None):
        folder = folder_get_for(user=request.user, pk=_pk_or_404(folder_uuid, "No such folder."))
        query = _valid(ItemListQuerySerializer, request.query_params)
        items = selectors_items.item_list(folder=folder, item_types=query["type"], search=query["search"])
        page = self.paginate_queryset(items)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class ItemViewSet(viewsets.GenericViewSet):
    """One item; batch moves, trash and restore of top-level items (a container brings its children)."""

    queryset = Item.objects.none()
    serializer_class = ItemSerializer
    lookup_field = "uuid"
    lookup_value_regex = UUID_REGEX

    @extend_schema(parameters=[UUID_PARAMETER], responses=ItemSerializer,
                   description="An item with its media facts, status and custom metadata.")
    def retrieve(self, request, uuid=None):
        return Response(ItemSerializer(self._item(request, uuid)).data)

    @extend_schema(parameters=[UUID_PARAMETER], request=ItemUpdateSerializer, responses=ItemSerializer,
                   description="Rename an item or change its description (editors).")
    def partial_update(self, request, uuid=None):
        item = self._item(request, uuid)
        data = _valid(ItemUpdateSerializer, request.data)
        item = item_services.item_update(
            user=request.user, item=item, name=data.get("name"), description=data.get("description")
        )
        return Response(ItemSerializer(item).data)

    @extend_schema(parameters=[UUID_PARAMETER], responses=ItemSerializer(many=True),
                   description="The members of an image group, image sequence or DICOM series, in position order.")
    @action(detail=True, methods=["get"], pagination_class=ChildPositionPage)
    def children(self, request, uuid=None):
        children = selectors_items.item_children(item=self._item(request, uuid))
        page = self.paginate_queryset(children)
        return self.get_paginated_response(ItemSerializer(page, many=True).data)

    @extend_schema(request=ItemsMoveSerializer, responses=ItemsMovedSerializer,
                   description="Move top-level items to another folder of the organisation (editors of both).")
    @action(detail=False, methods=["post"])
    def move(self, request):
        data = _valid(ItemsMoveSerializer, request.data)
        items = self._items(request, data["items"])
        destination = folder_get_for(user=request.user, pk=data["destination"])
        moved = item_services.items_move(user=request.user, items=items, destination=destination)
        return Response({"moved": moved})

    @extend_schema(methods=["GET"], responses=ItemSerializer(many=True),
                   description="Trashed items you could restore, most recently trashed first.")
    @extend_schema(methods=["POST"], request=ItemsSerializer, responses=ItemsTrashedSerializer,
                   description="Move items (with their children) to the trash.")
    @action(detail=False, methods=["get", "post"], pagination_class=TrashPage)
    def trash(self, request):
        if request.method == "POST":
            items = self._items(request, _valid(ItemsSerializer, request.data)["items"])
            batch = item_services.items_trash(user=request.user, items=items)
            return Response({"trash_batch": str(batch)})
        trashed = selectors_items.item_trash_list(user=request.user)  # visible_to adds no rows (subqueries)
        page = self.paginate_queryset(trashed)
        return self.get_paginated_response(ItemSerializer(page, many=True).data)

    @extend_schema(request=ItemsSerializer, responses=ItemsRestoredSerializer,
                   description="Restore trashed items with everything trashed together with them (editors).")
    @action(detail=False, methods=["post"])
    def restore(self, request):
        items = self._items(request, _valid(ItemsSerializer, request.data)["items"], include_trashed=True)
        restored = item_services.items_restore(user=request.user, items=items)
        return Response({"restored": restored})

    def _item(self, request, pk, include_trashed: bool = False) -> Item:
        with _same_404("No such item."):
            return selectors_items.item_get_for(
                user=request.user, pk=_pk_or_404(pk, "No such item."), include_trashed=include_trashed
            )

    def _items(self, request, pks, include_trashed: bool = False) -> list[Item]:
        # a repeated uuid counts once
        return [self._item(request, pk, include_trashed=include_trashed) for pk in dict.fromkeys(pks)]


# --------------------------------------------------------------------------- import jobs


@extend_schema(parameters=[FOLDER_PARAMETER], tags=["imports"])
class FolderImportViewSet(viewsets.GenericViewSet):
    """Submit a JSON registration file into a folder, and list the folder's import jobs."""

    queryset = ImportJob.objects.none()
    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, StrictJSONParser]

    @extend_schema(responses=ImportJobSerializer(many=True))
    def list(self, request, folder_uuid=None):
        folder = folder_get_for(user=request.user, pk=_pk_or_404(folder_uuid, "No such folder."))
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
            user=request.user, pk=_pk_or_404(folder_uuid, "No such folder."), role=FolderRole.EDITOR
        )
        if request.content_type.partition(";")[0].strip().lower() == "multipart/form-data":
            # Plain dicts: copying request.data would deep-copy the uploaded file.
            data = _valid(ImportUploadSerializer, dict(request.query_params.items()) | dict(request.data.items()))
            options = self._options(folder, data)
            job = import_services.import_job_create(
                user=request.user, folder=folder, fileobj=data["file"], file_name=data["file"].name, **options
            )
        else:
            options = self._options(folder, _valid(ImportOptionsSerializer, request.query_params))
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
        with _same_404("No such import job."):
            return selectors_items.import_job_get_for(user=request.user, pk=_pk_or_404(pk, "No such import job."))


def _error_csv_row(error: ImportJobError) -> tuple:
    return error.entry_index, error.pointer, error.reason, json.dumps(error.urls), error.stage


def _prepend(first, rest):
    yield first
    yield from rest


IMPORT_ERRORS_CSV_RENDERERS = [JSONRenderer, CsvRenderer]


# --------------------------------------------------------------------------- integrations


class IntegrationViewSet(viewsets.GenericViewSet):
    """Storage integrations of your organisations. Credentials are write-only: never returned."""

    queryset = StorageIntegration.objects.none()
    serializer_class = IntegrationSerializer
    pagination_class = None

    @extend_schema(
        parameters=[OpenApiParameter("organisation", OpenApiTypes.UUID, description="only this organisation")],
        responses=IntegrationSerializer(many=True),
    )
    def list(self, request):
        organisations = organisation_list(user=request.user)
        wanted = request.query_params.get("organisation")
        if wanted is not None:  # "" names no organisation (404), rather than all of them
            organisations = organisations.filter(pk=_pk_or_404(wanted, "No such organisation."))
        integrations = integration_list_for_user(user=request.user, organisations=organisations)
        return Response(IntegrationSerializer(integrations, many=True).data)

    @extend_schema(request=IntegrationCreateSerializer, responses={201: IntegrationSerializer},
                   description="Add an S3-compatible bucket (organisation admins only).")
    def create(self, request):
        data = _valid(IntegrationCreateSerializer, request.data)
        organisation = _default_organisation(request.user, data.pop("organisation", None))
        integration = integration_s3_create_for(user=request.user, organisation=organisation, **data)
        return Response(IntegrationSerializer(integration).data, status=status.HTTP_201_CREATED)
