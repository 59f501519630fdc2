"""REST endpoints for one item's metadata, bulk writes, the change history and video frame entries.

They parse input, look the item up for the caller (unknown or invisible: 404), call the update
services (which refuse viewers with 403 and invalid values with a 400 naming the item, the key, the
expected type and the value) and render metadata with ``metadata_with_vectors``, so embedding values
read back exactly as written.
"""

from __future__ import annotations

import time

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.heap import heap_frozen
from apps.core.parsers import StrictJSONParser
from apps.core.pagination import CursorPage
from apps.metadata import frames as frame_rules
from apps.metadata.api.item_serializers import (
    METADATA_OBJECT, BulkResponseSerializer, BulkWriteSerializer, ItemFramesSerializer,
    MetadataChangeSerializer,
)
from apps.metadata.records import MetadataChange
from apps.metadata.services.derived import metadata_with_vectors
from apps.metadata.services.updates import (
    MetadataWrite, item_metadata_merge, item_metadata_replace, items_metadata_bulk_write, metadata_change_revert,
)
from apps.storage.api.items import UUID_PARAMETER, _pk_or_404, _same_404
from apps.storage.models import Item, ItemType
from apps.storage.selectors_items import item_get_for

FRAME_ITEM_TYPES = (ItemType.VIDEO,)
CHANGE_PARAMETER = OpenApiParameter("change", OpenApiTypes.INT, OpenApiParameter.PATH,
                                    description="id of a history entry of this item")
BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description='Refused: {"metadata": ["item …: key …: expected '
                              '…, got …"]} or {"items": [...]}; nothing was written.')


class MergePatchParser(StrictJSONParser):
    """RFC 7386 bodies (``application/merge-patch+json``); plain ``application/json`` works too."""

    media_type = "application/merge-patch+json"


def _item(request, uuid) -> Item:
    with _same_404("No such item."):
        return item_get_for(user=request.user, pk=_pk_or_404(uuid, "No such item."))


def _full_metadata(item: Item) -> dict:
    item.refresh_from_db(fields=["client_metadata", "fps"])
    return metadata_with_vectors([item])[item.pk]


def _body(request):
    """The JSON body; an empty one is refused rather than read as ``{}`` (which would clear everything)."""
    if not int(request.META.get("CONTENT_LENGTH") or 0):
        raise ParseError("Send the metadata as a JSON object in the body ({} clears it).")
    return request.data


@extend_schema(parameters=[UUID_PARAMETER], tags=["metadata"])
class ItemMetadataView(APIView):
    """An item's custom metadata (embedding values included)."""

    parser_classes = [StrictJSONParser, MergePatchParser]

    @extend_schema(responses={200: OpenApiResponse(METADATA_OBJECT)}, description="The item's whole metadata.")
    def get(self, request, uuid=None):
        item = _item(request, uuid)
        return Response(metadata_with_vectors([item])[item.pk])

    @extend_schema(
        request={"application/json": METADATA_OBJECT},
        responses={200: OpenApiResponse(METADATA_OBJECT), 400: BAD_REQUEST},
        description="Replace: the metadata becomes exactly this object (editors). Returns the new metadata.",
    )
    def put(self, request, uuid=None):
        item = _item(request, uuid)
        item_metadata_replace(user=request.user, item=item, metadata=_body(request))
        return Response(_full_metadata(item))

    @extend_schema(
        request={"application/merge-patch+json": METADATA_OBJECT, "application/json": METADATA_OBJECT},
        responses={200: OpenApiResponse(METADATA_OBJECT), 400: BAD_REQUEST},
        description="Merge (JSON merge-patch, RFC 7386): given keys overwrite, null removes a key, other keys "
        "stay (editors). Concurrent merges on one item both land. Returns the new metadata.",
    )
    def patch(self, request, uuid=None):
        item = _item(request, uuid)
        item_metadata_merge(user=request.user, item=item, patch=_body(request))
        return Response(_full_metadata(item))


@extend_schema(tags=["metadata"])
class MetadataBulkView(APIView):
    """Write the metadata of many items at once.

    Responses carry ``Server-Timing: app;dur=<ms>``: the time from DRF's dispatch (authentication,
    parsing, validation, the write and its commit) to the rendered body, which is what the
    "median server time" target of bench_metadata.py measures. A request keeps ~10,000 objects
    alive from parsing to rendering, enough to trigger a full garbage collection every few
    requests; with the heap frozen (``heap_frozen``) that collection only scans the request's own.
    """

    def dispatch(self, request, *args, **kwargs):
        started = time.perf_counter()
        with heap_frozen():
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response

    @extend_schema(
        request=BulkWriteSerializer, responses={200: BulkResponseSerializer, 400: BAD_REQUEST},
        description='Up to 1,000 items: `{"mode": "replace"|"merge", "items": {"<uuid>": {...}}}` or '
        '`{"updates": [{"item": "<uuid>", "mode": "merge", "metadata": {...}}]}`. Every value is validated '
        "first and all items are written in one transaction: one invalid value or one item you cannot edit "
        "changes nothing. Larger sets go through a metadata job.",
    )
    def post(self, request):
        serializer = BulkWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "items" in data:
            merge = data["mode"] == "merge"
            writes = [MetadataWrite(pk, metadata, merge=merge) for pk, metadata in data["items"].items()]
        else:
            writes = [MetadataWrite(update["item"], update["metadata"], merge=update["mode"] == "merge")
                      for update in data["updates"]]
        changes = items_metadata_bulk_write(user=request.user, writes=writes)
        # BulkResultSerializer's shape, built directly: running 1,000 entries through it cost ~10 ms.
        return Response({"results": [{"item": str(change.item_id), "change": change.pk, "action": change.action,
                                      "keys": change.keys} for change in changes]})


class HistoryPage(CursorPage):
    ordering = ("-at", "-id")
    page_size = 50


@extend_schema(parameters=[UUID_PARAMETER], tags=["metadata"])
class ItemMetadataHistoryView(GenericAPIView):
    """The item's metadata changes, newest first."""

    serializer_class = MetadataChangeSerializer
    pagination_class = HistoryPage
    queryset = MetadataChange.objects.none()

    @extend_schema(responses=MetadataChangeSerializer(many=True),
                   description="Each change: who, when, the action, the keys it changed, before and after.")
    def get(self, request, uuid=None):
        item = _item(request, uuid)
        changes = MetadataChange.objects.filter(item=item).select_related("user")
        page = self.paginate_queryset(changes)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema(parameters=[UUID_PARAMETER, CHANGE_PARAMETER], tags=["metadata"])
class MetadataChangeRevertView(APIView):
    @extend_schema(
        request=None, responses={200: MetadataChangeSerializer, 400: BAD_REQUEST},
        description="Put the metadata back to what it was before this change (editors); recorded as a new "
        "change with action `revert`, which is returned.",
    )
    def post(self, request, uuid=None, change=None):
        item = _item(request, uuid)
        target = get_object_or_404(MetadataChange, pk=change, item=item)
        reverted = metadata_change_revert(user=request.user, change=target)
        reverted = MetadataChange.objects.select_related("user").get(pk=reverted.pk)
        return Response(MetadataChangeSerializer(reverted).data)


@extend_schema(parameters=[UUID_PARAMETER], tags=["metadata"])
class ItemFramesView(APIView):
    @extend_schema(
        responses=ItemFramesSerializer,
        description="A video's Explorer entries in frame order: its key frames (with their own metadata) and "
        "the frames sampled at `$encord.config.sampling_rate` per second (default 1; 0 = the first frame only).",
    )
    def get(self, request, uuid=None):
        item = _item(request, uuid)
        if item.item_type not in FRAME_ITEM_TYPES:
            raise Http404("Only videos have frame entries.")
        return Response(ItemFramesSerializer(item_frame_entries(item)).data)


def item_frame_entries(item: Item, *, metadata: dict | None = None) -> dict:
    """Key and sampled frames of a video, each with its time and (key frames) its own metadata.

    ``metadata`` is the item's full metadata when the caller already has it (else it is read).
    """
    if metadata is None:
        metadata = metadata_with_vectors([item])[item.pk]
    rate, mode = frame_rules.encord_config(metadata)
    keys = frame_rules.key_frames(metadata, fps=item.fps)
    sampled = set(frame_rules.sampled_frames(rate=rate, fps=item.fps, frame_count=item.frame_count))
    entries = [
        {"frame": frame, "time": frame_rules.frame_time(frame, item.fps), "key_frame": is_key,
         "sampled": frame in sampled, "metadata": keys[frame] if is_key else None}
        for frame, is_key in frame_rules.explorer_frames(metadata, fps=item.fps, frame_count=item.frame_count)
    ]
    return {"item": item.pk, "fps": item.fps, "frame_count": item.frame_count, "sampling_rate": rate,
            "keyframe_mode": mode, "frames": entries}
