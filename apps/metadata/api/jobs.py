"""REST endpoints for metadata jobs: submit a CSV/JSON file of item metadata, follow it, cancel it.

A folder or job the caller cannot see is a 404; a role that is too low a 403 (raised by the
services); a refused submit a field-keyed 400.
"""

from __future__ import annotations

import uuid as uuid_module
from urllib.parse import urlencode

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser

from apps.core.parsers import StrictJSONParser
from rest_framework.response import Response

from apps.metadata.api.views import _organisation
from apps.metadata.models_jobs import MetadataJob, MetadataJobError, MetadataJobMatch, MetadataJobMode
from apps.metadata.services import jobs as job_services
from apps.storage.permissions import folder_get_for

UUID_REGEX = "[0-9a-fA-F-]{36}"
ERRORS_PAGE_SIZE = 100
ERRORS_PAGE_SIZE_MAX = 1000


class MetadataJobErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = MetadataJobError
        fields = ["row", "location", "key", "reason"]
        read_only_fields = fields


class MetadataJobSerializer(serializers.ModelSerializer):
    organisation = serializers.UUIDField(source="organisation_id", read_only=True)
    folder = serializers.UUIDField(source="folder_id", read_only=True, allow_null=True)
    pending = serializers.IntegerField(read_only=True)

    class Meta:
        model = MetadataJob
        fields = [
            "uuid", "organisation", "folder", "status", "file_name", "file_format", "mode", "match", "total",
            "done", "failed", "pending", "error", "cancel_requested", "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields


class MetadataJobDetailSerializer(MetadataJobSerializer):
    errors = MetadataJobErrorSerializer(many=True, read_only=True, source="errors_page")
    errors_next = serializers.CharField(read_only=True, allow_null=True, help_text="the next page of errors")

    class Meta(MetadataJobSerializer.Meta):
        fields = [*MetadataJobSerializer.Meta.fields, "errors", "errors_next"]
        read_only_fields = fields


class MetadataJobUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV (first column uuid, url or title) or JSON (see spec/metadata.md).")
    folder = serializers.UUIDField(required=False, allow_null=True,
                                   help_text="the folder whose subtree the rows apply to; empty: the organisation")
    organisation = serializers.UUIDField(required=False, allow_null=True,
                                         help_text="without a folder, when you belong to several organisations")
    mode = serializers.ChoiceField(choices=MetadataJobMode.choices, required=False, allow_blank=True, default="",
                                   help_text="empty: the file's own, else merge")
    match = serializers.ChoiceField(choices=MetadataJobMatch.choices, required=False, allow_blank=True, default="",
                                    help_text="empty: the file's own (CSV header, JSON match), else uuid")


def _pk_or_404(value) -> uuid_module.UUID:
    try:
        return uuid_module.UUID(str(value))
    except ValueError as exc:
        raise Http404("No such metadata job.") from exc


def _errors_page_options(request) -> tuple[int, int]:
    try:
        after = int(request.query_params.get("errors_after", 0))
        size = int(request.query_params.get("errors_page_size", ERRORS_PAGE_SIZE))
    except ValueError:
        raise serializers.ValidationError({"errors_after": ["Give whole numbers."]}) from None
    return after, min(max(size, 1), ERRORS_PAGE_SIZE_MAX)


@extend_schema(tags=["metadata"])
class MetadataJobViewSet(viewsets.GenericViewSet):
    """Metadata jobs: a file of item metadata applied by workers in chunks of 1,000 rows."""

    queryset = MetadataJob.objects.none()
    serializer_class = MetadataJobSerializer
    parser_classes = [MultiPartParser, FormParser, StrictJSONParser]
    lookup_field = "uuid"
    lookup_value_regex = UUID_REGEX

    @extend_schema(
        request={"multipart/form-data": MetadataJobUploadSerializer}, responses={202: MetadataJobSerializer},
        description="Upload a CSV or JSON file mapping items (by uuid, url or title) to metadata, applied to "
        "the folder's subtree (editors), or without a folder to every folder of the organisation you can "
        "edit. Returns at once; follow the job.",
    )
    def create(self, request):
        serializer = MetadataJobUploadSerializer(data=dict(request.data.items()))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        scope = {}
        if data.get("folder"):
            scope["folder"] = folder_get_for(user=request.user, pk=data["folder"])
        else:
            scope["organisation"] = _organisation(request, data.get("organisation"))
        job = job_services.metadata_job_create(
            user=request.user, fileobj=data["file"], file_name=data["file"].name, mode=data["mode"],
            match=data["match"], **scope,
        )
        location = request.build_absolute_uri(reverse("metadata-job-detail", args=[job.pk]))
        return Response(MetadataJobSerializer(job).data, status=status.HTTP_202_ACCEPTED,
                        headers={"Location": location})

    @extend_schema(
        parameters=[
            OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("errors_after", int, description="row number after which the errors page starts"),
            OpenApiParameter("errors_page_size", int, description=f"at most {ERRORS_PAGE_SIZE_MAX}; "
                                                                   f"default {ERRORS_PAGE_SIZE}"),
        ],
        responses=MetadataJobDetailSerializer,
        description="Status, counts, and a page of the refused rows (by row number; follow errors_next).",
    )
    def retrieve(self, request, uuid=None):
        job = self._job(request, uuid)
        after, size = _errors_page_options(request)
        page = list(job.errors.filter(row__gt=after).order_by("row")[:size + 1])
        job.errors_page, job.errors_next = page[:size], None
        if len(page) > size:
            query = urlencode({"errors_after": page[size - 1].row, "errors_page_size": size})
            job.errors_next = request.build_absolute_uri(f"{request.path}?{query}")
        return Response(MetadataJobDetailSerializer(job).data)

    @extend_schema(parameters=[OpenApiParameter("uuid", OpenApiTypes.UUID, OpenApiParameter.PATH)], request=None,
                   responses=MetadataJobSerializer,
                   description="Stop after the current chunk (committed chunks stay); a job not started ends at once.")
    @action(detail=True, methods=["post"])
    def cancel(self, request, uuid=None):
        job = job_services.metadata_job_cancel(user=request.user, job=self._job(request, uuid))
        return Response(MetadataJobSerializer(job).data)

    def _job(self, request, pk) -> MetadataJob:
        job = (MetadataJob.objects.visible_to(request.user).select_related("folder")
               .filter(pk=_pk_or_404(pk)).first())
        if job is None:
            raise Http404("No such metadata job.")
        return job
