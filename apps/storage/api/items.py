"""REST endpoints for items and storage integrations (import jobs: ``apps.imports.api``).

Like the folder endpoints they parse input, call selectors and services, and render: an object the
caller cannot see is a 404, a role that is too low a 403 (raised by the services), and a refused
write a field-keyed 400 (``apps.core.errors``).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.helpers import (
    UUID_PARAMETER, UUID_REGEX, pk_or_404, request_organisation, same_404, validated,
)
from apps.core.pagination import CursorPage
from apps.core.selectors import organisation_list
from apps.storage import selectors_items
from apps.storage.api.item_serializers import (
    IntegrationCreateSerializer, IntegrationSerializer, ItemSerializer,
    ItemsMovedSerializer, ItemsMoveSerializer, ItemsRestoredSerializer, ItemsSerializer, ItemsTrashedSerializer,
    ItemUpdateSerializer,
)
from apps.storage.models import Item, StorageIntegration
from apps.storage.permissions import folder_get_for
from apps.storage.services import items as item_services
from apps.storage.services.integrations import integration_list_for_user, integration_s3_create_for


class ChildPositionPage(CursorPage):
    ordering = ("position",)


class TrashPage(CursorPage):
    ordering = ("-deleted_at", "uuid")


# --------------------------------------------------------------------------- items


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
        data = validated(ItemUpdateSerializer, request.data)
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
        data = validated(ItemsMoveSerializer, request.data)
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
            items = self._items(request, validated(ItemsSerializer, request.data)["items"])
            batch = item_services.items_trash(user=request.user, items=items)
            return Response({"trash_batch": str(batch)})
        trashed = selectors_items.item_trash_list(user=request.user)  # visible_to adds no rows (subqueries)
        page = self.paginate_queryset(trashed)
        return self.get_paginated_response(ItemSerializer(page, many=True).data)

    @extend_schema(request=ItemsSerializer, responses=ItemsRestoredSerializer,
                   description="Restore trashed items with everything trashed together with them (editors).")
    @action(detail=False, methods=["post"])
    def restore(self, request):
        items = self._items(request, validated(ItemsSerializer, request.data)["items"], include_trashed=True)
        restored = item_services.items_restore(user=request.user, items=items)
        return Response({"restored": restored})

    def _item(self, request, pk, include_trashed: bool = False) -> Item:
        with same_404("No such item."):
            return selectors_items.item_get_for(
                user=request.user, pk=pk_or_404(pk, "No such item."), include_trashed=include_trashed
            )

    def _items(self, request, pks, include_trashed: bool = False) -> list[Item]:
        # a repeated uuid counts once
        return [self._item(request, pk, include_trashed=include_trashed) for pk in dict.fromkeys(pks)]


# --------------------------------------------------------------------------- import jobs


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
            organisations = organisations.filter(pk=pk_or_404(wanted, "No such organisation."))
        integrations = integration_list_for_user(user=request.user, organisations=organisations)
        return Response(IntegrationSerializer(integrations, many=True).data)

    @extend_schema(request=IntegrationCreateSerializer, responses={201: IntegrationSerializer},
                   description="Add an S3-compatible bucket (organisation admins only).")
    def create(self, request):
        data = validated(IntegrationCreateSerializer, request.data)
        organisation = request_organisation(request.user, data.pop("organisation", None))
        integration = integration_s3_create_for(user=request.user, organisation=organisation, **data)
        return Response(IntegrationSerializer(integration).data, status=status.HTTP_201_CREATED)
