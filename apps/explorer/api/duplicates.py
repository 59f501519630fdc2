"""Near-duplicate groups over REST: ``GET /api/v1/similarity/duplicates``, ``POST .../duplicates/scan``,
``POST .../duplicates/{id}/resolve``.

Thin doors over ``apps.similarity.selectors_duplicates`` and ``services_duplicates``. A user sees a
group through the items they may see (two at least); resolving trashes the other visible members
and needs the editor role on their folders (403 otherwise, nothing trashed).
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.helpers import request_organisation
from apps.core.errors import ServiceValidationError
from apps.core.pagination import PageTokenError
from apps.core.parsers import StrictJSONParser
from apps.explorer.selectors import explore_scope
from apps.similarity.models_duplicates import DuplicateMethod
from apps.similarity.selectors_duplicates import (
    GROUPS_PAGE_MAX, GROUPS_PAGE_SIZE, duplicate_group_get, duplicate_groups_page, duplicate_scan_current,
    duplicate_scans,
)
from apps.similarity.services_duplicates import duplicate_group_resolve, duplicate_method_key, duplicate_scan_start

ORGANISATION = OpenApiParameter("organisation", OpenApiTypes.UUID,
                                description="needed only when you belong to several organisations")
REFUSED = OpenApiResponse(OpenApiTypes.OBJECT, description='Refused, naming the member: {"threshold": [...]}.')


class ScanSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    method = serializers.CharField()
    key = serializers.CharField(source="key.name", allow_null=True, default=None)
    threshold = serializers.FloatField()
    status = serializers.CharField()
    error = serializers.CharField()
    hashes = serializers.IntegerField(help_text="hashes (or vectors) compared")
    pairs = serializers.IntegerField()
    group_count = serializers.IntegerField()
    item_count = serializers.IntegerField()
    seconds = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class MemberSerializer(serializers.Serializer):
    uuid = serializers.UUIDField(source="item.pk")
    name = serializers.CharField(source="item.display_name")
    type = serializers.CharField(source="item.item_type")
    folder = serializers.UUIDField(source="item.folder_id")
    distance = serializers.FloatField(help_text="to the nearest other member (bits, or cosine distance)")
    thumbnail_url = serializers.SerializerMethodField()

    def get_thumbnail_url(self, member) -> str | None:
        return f"/items/{member.item_id}/preview" if member.item.preview else None


class GroupSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    size = serializers.IntegerField(help_text="members in the group, including ones you cannot see")
    distance = serializers.FloatField(help_text="the largest member distance")
    items = MemberSerializer(many=True, source="shown_members")


class GroupsSerializer(serializers.Serializer):
    scan = ScanSerializer(allow_null=True, help_text="the scan whose groups these are (the newest finished)")
    latest = ScanSerializer(allow_null=True, help_text="the newest scan of this method, maybe still running")
    results = GroupSerializer(many=True)
    next_page_token = serializers.CharField(allow_null=True)


class ScanRequestSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=DuplicateMethod.values)
    key = serializers.CharField(required=False, allow_null=True, help_text="the embedding key (method embedding)")
    threshold = serializers.FloatField(required=False, allow_null=True,
                                       help_text="bits of 64 (hash, default 6) or cosine distance (embedding)")


class ResolveRequestSerializer(serializers.Serializer):
    keep = serializers.UUIDField(help_text="the member to keep; the other members you can see are trashed")


class ResolveResultSerializer(serializers.Serializer):
    trashed = serializers.IntegerField()
    trash_batch = serializers.UUIDField(allow_null=True, help_text="restores them together")


def _body(request, allowed: tuple[str, ...]) -> dict:
    data = request.data
    if not isinstance(data, dict):
        raise ServiceValidationError({"detail": "The body is a JSON object."})
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ServiceValidationError({name: "Unknown member." for name in unknown[:10]})
    return data


def _page_size(text) -> int:
    if text in (None, ""):
        return GROUPS_PAGE_SIZE
    if not str(text).isdigit() or not 1 <= int(text) <= GROUPS_PAGE_MAX:
        raise ServiceValidationError({"page_size": f"A whole number, 1 to {GROUPS_PAGE_MAX}."})
    return int(text)


class DuplicateGroupsView(APIView):
    """The current duplicate groups of a method (and key), tightest first, as the caller sees them."""

    @extend_schema(
        operation_id="similarity_duplicates_list",
        parameters=[ORGANISATION,
                    OpenApiParameter("method", OpenApiTypes.STR, enum=DuplicateMethod.values, description="hash (default) or embedding"),
                    OpenApiParameter("key", OpenApiTypes.STR, description="the embedding key (method embedding)"),
                    OpenApiParameter("page_token", OpenApiTypes.STR),
                    OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1..{GROUPS_PAGE_MAX}")],
        responses={200: GroupsSerializer, 400: REFUSED},
    )
    def get(self, request):
        params = request.query_params
        organisation = request_organisation(request.user, params.get("organisation"))
        method, key = duplicate_method_key(organisation=organisation, method=params.get("method", "hash"),
                                           key_name=params.get("key"))
        page_size = _page_size(params.get("page_size"))
        latest = duplicate_scans(organisation=organisation, method=method, key=key).first()
        current = duplicate_scan_current(organisation=organisation, method=method, key=key)
        groups, following = [], None
        if current is not None:
            try:
                page = duplicate_groups_page(scan=current, visible_items=explore_scope(
                    user=request.user, organisation=organisation), token=params.get("page_token") or None,
                    page_size=page_size)
            except PageTokenError as exc:
                raise ServiceValidationError({"page_token": str(exc) or "Not a page token of this listing."}) from exc
            groups, following = page.groups, page.next_token
        return Response(GroupsSerializer({"scan": current, "latest": latest, "results": groups,
                                          "next_page_token": following}).data)


class DuplicateScanView(APIView):
    """Start grouping near-duplicates by a method at a threshold (a job on a worker)."""

    parser_classes = [StrictJSONParser]

    @extend_schema(operation_id="similarity_duplicates_scan", parameters=[ORGANISATION],
                   request=ScanRequestSerializer, responses={202: ScanSerializer, 400: REFUSED})
    def post(self, request):
        organisation = request_organisation(request.user, request.query_params.get("organisation"))
        data = _body(request, ("method", "key", "threshold"))
        method = data.get("method")
        if not isinstance(method, str):
            raise ServiceValidationError({"method": f"One of {', '.join(DuplicateMethod.values)}."})
        threshold = data.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise ServiceValidationError({"threshold": "A number."})
        scan = duplicate_scan_start(user=request.user, organisation=organisation, method=method,
                                    key_name=data.get("key"), threshold=threshold)
        return Response(ScanSerializer(scan).data, status=status.HTTP_202_ACCEPTED)


class DuplicateResolveView(APIView):
    """Keep one member of a group and trash the other members you can see (one trash batch)."""

    parser_classes = [StrictJSONParser]

    @extend_schema(operation_id="similarity_duplicates_resolve", parameters=[ORGANISATION],
                   request=ResolveRequestSerializer,
                   responses={200: ResolveResultSerializer, 400: REFUSED, 403: OpenApiTypes.OBJECT,
                              404: OpenApiTypes.OBJECT})
    def post(self, request, group: int):
        organisation = request_organisation(request.user, request.query_params.get("organisation"))
        visible = explore_scope(user=request.user, organisation=organisation)
        found = duplicate_group_get(organisation=organisation, pk=group, visible_items=visible)
        if found is None:
            raise Http404("No such duplicate group.")
        data = _body(request, ("keep",))
        keep = ResolveRequestSerializer(data=data)
        if not keep.is_valid():
            raise ServiceValidationError({"keep": "The uuid of one of the group's items."})
        kept = visible.filter(pk=keep.validated_data["keep"]).first()
        if kept is None:
            raise ServiceValidationError({"keep": "Keep one of the group's items."})
        trashed, batch = duplicate_group_resolve(user=request.user, group=found, keep=kept, visible_items=visible)
        return Response({"trashed": trashed, "trash_batch": batch})
