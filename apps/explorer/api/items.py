"""``GET /api/v1/folders/{uuid}/items``: a folder's items, through the Explorer's one query.

The listing lives here rather than in ``apps.storage.api`` because it calls ``explore_items`` (the
selector every listing door shares: the Explorer, the folder page, this list, the Encord routes), and
storage sits below the explorer. The body is what it always was: ``{"next", "previous", "results"}``
with ``?cursor=`` links, by name (uuid breaking ties).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import NotFound

from apps.core.api.helpers import FOLDER_PARAMETER, pk_or_404, validated
from apps.core.errors import ServiceValidationError
from apps.core.pagination import CursorPage
from apps.explorer.selectors import SortKey, explore_items, listing_filter
from apps.storage.api.item_serializers import ItemListQuerySerializer, ItemSerializer
from apps.storage.models import Item
from apps.storage.permissions import folder_get_for

BY_NAME = (SortKey("field", "name"),)


class FolderItemPage(CursorPage):
    """``CursorPage``'s links and page sizes over an ``explore_items`` page."""

    def explore_page(self, request, **scope) -> list[Item]:
        self.request = request
        try:
            self.page = explore_items(**scope, sort=BY_NAME, page_size=self._page_size(request),
                                      page_token=request.query_params.get(self.cursor_query_param) or None)
        except ServiceValidationError as exc:
            if "page_token" in exc.message_dict:
                raise NotFound(self.invalid_cursor_message) from exc
            raise
        return self.page.rows


@extend_schema(parameters=[FOLDER_PARAMETER], tags=["items"])
class FolderItemViewSet(viewsets.GenericViewSet):
    """The items of a folder (files and containers; children of containers are under ``/items/{uuid}/children``)."""

    queryset = Item.objects.none()
    serializer_class = ItemSerializer
    pagination_class = FolderItemPage

    @extend_schema(
        parameters=[
            OpenApiParameter("type", str, many=True, explode=True, description="item types to keep (repeatable)"),
            OpenApiParameter("search", str, description="part of the name, any case"),
            OpenApiParameter("page_size", int, description="at most 1000; default 100"),
        ],
        responses=ItemSerializer(many=True),
    )
    def list(self, request, folder_uuid=None):
        folder = folder_get_for(user=request.user, pk=pk_or_404(folder_uuid, "No such folder."))
        query = validated(ItemListQuerySerializer, request.query_params)
        rows = self.paginator.explore_page(
            request, user=request.user, organisation=folder.organisation, scope_folder=folder, recursive=False,
            tree=listing_filter(item_types=query["type"], search=query["search"]),
        )
        return self.paginator.get_paginated_response(self.get_serializer(rows, many=True).data)
