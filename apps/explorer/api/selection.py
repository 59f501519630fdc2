"""Actions on a selection: ``POST /api/v1/explore/{bulk-edit,move,trash,export}``.

Thin doors: the body's selection is read by ``selection_from_json``, the action is one service
(``apps.explorer.services``) or, for the export, one streamed read (``apps.explorer.export``).
Refusals are 400s keyed by the member (``set.score``, ``remove[0]``, ``items[3]``, ``filter.and[1]``),
a scope folder, destination or listed item you cannot see a 404, a selection holding items you may
only view (or a folder you only view) a 403; a refused action changes nothing.
"""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.helpers import request_organisation
from apps.core.errors import ServiceValidationError
from apps.core.parsers import StrictJSONParser
from apps.explorer.api.serializers import FilterField, ScopeSerializer
from apps.explorer.export import EXPORT_FORMATS, export_csv, export_json
from apps.explorer.selection import SELECTION_MEMBERS, selection_from_json, selection_queryset
from apps.explorer.services import bulk_edit_patch, selection_bulk_edit, selection_move, selection_trash
from apps.metadata.api.jobs import MetadataJobSerializer
from apps.metadata.services.updates import BULK_MAX_ITEMS

ORGANISATION_PARAMETER = OpenApiParameter("organisation", OpenApiTypes.UUID,
                                          description="needed only when you belong to several organisations")
SELECTION_FILTER = {"scope": {"folder": "9b2f6c1e-3d4a-4e5f-8a7b-1c2d3e4f5a6b", "recursive": True},
                    "filter": {"key": "camera", "op": "eq", "value": "cam3"}, "q": "score > 0.8"}
SELECTION_ITEMS = {"items": ["0d4c2a9e-5b1f-4c3d-9e8a-7f6b5c4d3e2a", "1e5d3b0f-6c2a-4d4e-8f9b-8a7c6d5e4f3b"]}
REFUSED = OpenApiResponse(OpenApiTypes.OBJECT, description='Refused, naming the member: {"set.score": ["key '
                          '\\"score\\": expected number, got \\"high\\""]}; nothing was changed.')
FORBIDDEN = OpenApiResponse(OpenApiTypes.OBJECT, description="Some selected items (or the scope folder) are in "
                            "folders where you are only a viewer; nothing was changed.")
NOT_FOUND = OpenApiResponse(OpenApiTypes.OBJECT, description="A scope folder, destination or listed item you "
                            "cannot see (or that does not exist).")


class SelectionSerializer(serializers.Serializer):
    """The selection members every action takes: a filtered scope, or an explicit list of items."""

    scope = ScopeSerializer(required=False, allow_null=True)
    filter = FilterField(required=False, allow_null=True)
    q = serializers.CharField(required=False, allow_null=True, help_text="a written expression")
    items = serializers.ListField(child=serializers.UUIDField(), required=False,
                                  help_text="instead of scope/filter/q: the selected items' uuids")


class BulkEditSerializer(SelectionSerializer):
    set = serializers.DictField(required=False, help_text="keys to set to these values")
    remove = serializers.ListField(child=serializers.CharField(), required=False, help_text="keys to remove")
    merge = serializers.DictField(required=False, help_text="a JSON merge-patch (nested objects merge, null removes)")


class BulkEditResultSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text="the selected items, all written")
    changed = serializers.IntegerField(help_text="the items whose metadata differs afterwards")


class BulkEditJobSerializer(serializers.Serializer):
    matched = serializers.IntegerField(help_text="the selected items the job will write")
    job = MetadataJobSerializer()
    url = serializers.CharField(help_text="poll this for status, done, failed and errors")


class MoveSerializer(SelectionSerializer):
    destination = serializers.UUIDField(help_text="the folder to move the items to")


class MoveResultSerializer(serializers.Serializer):
    moved = serializers.IntegerField()


class TrashResultSerializer(serializers.Serializer):
    trashed = serializers.IntegerField()
    trash_batch = serializers.UUIDField(allow_null=True, help_text="restores them together")


class ExportSerializer(SelectionSerializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="csv")


def _body(request, extra: tuple[str, ...]) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ServiceValidationError({"detail": "The body is a JSON object."})
    unknown = sorted(set(data) - set(SELECTION_MEMBERS) - set(extra))
    if unknown:
        raise ServiceValidationError({name: "Unknown member." for name in unknown[:10]})
    return data


class _SelectionView(APIView):
    parser_classes = [StrictJSONParser]

    def selection(self, request, extra: tuple[str, ...] = ()):
        organisation = request_organisation(request.user, request.query_params.get("organisation"))
        data = _body(request, extra)
        return organisation, selection_from_json(data), data


class ExploreBulkEditView(_SelectionView):
    """Set, remove and merge metadata keys on every selected item; every change in each item's history."""

    @extend_schema(
        operation_id="explore_bulk_edit", parameters=[ORGANISATION_PARAMETER], request=BulkEditSerializer,
        responses={200: BulkEditResultSerializer, 202: BulkEditJobSerializer, 400: REFUSED, 403: FORBIDDEN,
                   404: NOT_FOUND},
        description=f"Validated against the schema first (a refusal changes nothing). Up to {BULK_MAX_ITEMS:,} "
                    "items: one atomic write, 200 with the counts. More: 202 with a metadata job to poll "
                    "(the selection is read once, when the job is submitted).",
        examples=[
            OpenApiExample("all matching: set, remove and merge", request_only=True, value={
                **SELECTION_FILTER, "set": {"reviewed": True, "score": 0.9}, "remove": ["draft"],
                "merge": {"camera_info": {"lens": "35mm"}}}),
            OpenApiExample("picked items", request_only=True, value={**SELECTION_ITEMS, "set": {"night": False}}),
            OpenApiExample("written at once", response_only=True, status_codes=["200"],
                           value={"matched": 412, "changed": 398}),
        ],
    )
    def post(self, request):
        organisation, selection, data = self.selection(request, ("set", "remove", "merge"))
        patch = bulk_edit_patch(set_values=data.get("set"), remove=data.get("remove"), merge=data.get("merge"),
                                organisation=organisation)
        result = selection_bulk_edit(user=request.user, organisation=organisation, selection=selection, patch=patch)
        if result.job is None:
            return Response({"matched": result.matched, "changed": result.changed})
        return Response({"matched": result.matched, "job": MetadataJobSerializer(result.job).data,
                         "url": reverse("metadata-job-detail", args=[result.job.pk])},
                        status=status.HTTP_202_ACCEPTED)


class ExploreMoveView(_SelectionView):
    """Move the selected items (with their children) to a folder: editor on both sides."""

    @extend_schema(
        operation_id="explore_move", parameters=[ORGANISATION_PARAMETER], request=MoveSerializer,
        responses={200: MoveResultSerializer, 400: REFUSED, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("all matching", request_only=True, value={
            **SELECTION_FILTER, "destination": "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"})],
    )
    def post(self, request):
        organisation, selection, data = self.selection(request, ("destination",))
        destination = selection_from_json({"items": [data.get("destination")]}).items[0] \
            if isinstance(data.get("destination"), str) else None
        if destination is None:
            raise ServiceValidationError({"destination": "A folder uuid."})
        moved = selection_move(user=request.user, organisation=organisation, selection=selection,
                               destination=destination)
        return Response({"moved": moved})


class ExploreTrashView(_SelectionView):
    """Move the selected items (with their children) to the trash; the batch id restores them."""

    @extend_schema(
        operation_id="explore_trash", parameters=[ORGANISATION_PARAMETER], request=SelectionSerializer,
        responses={200: TrashResultSerializer, 400: REFUSED, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("picked items", request_only=True, value=SELECTION_ITEMS)],
    )
    def post(self, request):
        organisation, selection, _ = self.selection(request)
        trashed, batch = selection_trash(user=request.user, organisation=organisation, selection=selection)
        return Response({"trashed": trashed, "trash_batch": batch})


class ExploreExportView(_SelectionView):
    """The selected items' metadata as CSV (uuid, name, folder, type, one column per key) or JSON, streamed."""

    @extend_schema(
        operation_id="explore_export", parameters=[ORGANISATION_PARAMETER], request=ExportSerializer,
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT,
                   400: REFUSED, 404: NOT_FOUND},
        examples=[OpenApiExample("all matching, as CSV", request_only=True, value={**SELECTION_FILTER,
                                                                                      "format": "csv"})],
    )
    def post(self, request):
        organisation, selection, data = self.selection(request, ("format",))
        export_format = data.get("format", "csv")
        if export_format not in EXPORT_FORMATS:
            raise ServiceValidationError({"format": "csv or json."})
        items = selection_queryset(user=request.user, organisation=organisation, selection=selection)
        produce, content_type = (export_csv, "text/csv; charset=utf-8") if export_format == "csv" else \
            (export_json, "application/json")
        response = StreamingHttpResponse(produce(items, organisation_id=organisation.pk), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="selection.{export_format}"'
        return response
