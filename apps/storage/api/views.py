"""REST endpoints for folders. They parse input, call services/selectors, and render."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core.api.helpers import UUID_PARAMETER, pk_or_404, request_organisation, validated
from apps.core.models import User
from apps.storage import selectors
from apps.storage.api.serializers import (
    FolderCreateSerializer, FolderMemberSerializer, FolderMemberSetSerializer, FolderSerializer,
    FolderUpdateSerializer,
)
from apps.storage.models import FolderRole
from apps.storage.permissions import folder_get_for
from apps.storage.services import folders as folder_services


@extend_schema(parameters=[UUID_PARAMETER])
class FolderViewSet(viewsets.ViewSet):
    """Folders of the organisations you belong to, limited to the trees you were granted."""

    lookup_field = "uuid"
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    serializer_class = FolderSerializer

    @extend_schema(
        parameters=[OpenApiParameter("parent", str, description="uuid of the parent; omit for top level")],
        responses=FolderSerializer(many=True),
    )
    def list(self, request):
        parent_id = request.query_params.get("parent")
        if parent_id:
            parent = folder_get_for(user=request.user, pk=pk_or_404(parent_id, "No such folder."))
            qs = selectors.folder_list(user=request.user, parent=parent)
        else:
            qs = selectors.folder_list(user=request.user, top_level=True)
        return Response(FolderSerializer(qs, many=True).data)

    @extend_schema(request=FolderCreateSerializer, responses={201: FolderSerializer})
    def create(self, request):
        data = validated(FolderCreateSerializer, request.data)
        parent = None
        organisation = None
        if data.get("parent"):
            parent = folder_get_for(user=request.user, pk=data["parent"])
        else:
            organisation = request_organisation(request.user, data.get("organisation"))
        folder = folder_services.folder_create(
            user=request.user, name=data["name"], parent=parent, organisation=organisation,
            description=data["description"], client_metadata=data["client_metadata"],
        )
        return Response(FolderSerializer(folder).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=FolderSerializer)
    def retrieve(self, request, uuid=None):
        return Response(FolderSerializer(folder_get_for(user=request.user, pk=pk_or_404(uuid, "No such folder."))).data)

    @extend_schema(request=FolderUpdateSerializer, responses=FolderSerializer)
    def partial_update(self, request, uuid=None):
        folder = folder_get_for(user=request.user, pk=pk_or_404(uuid, "No such folder."))
        data = validated(FolderUpdateSerializer, request.data)
        from django.db import transaction

        with transaction.atomic():
            if "parent" in data:
                new_parent = folder_get_for(user=request.user, pk=data["parent"]) if data["parent"] else None
                folder = folder_services.folder_move(user=request.user, folder=folder, new_parent=new_parent)
            if {"name", "description", "client_metadata"} & data.keys():
                folder = folder_services.folder_update(
                    user=request.user, folder=folder, name=data.get("name"),
                    description=data.get("description"), client_metadata=data.get("client_metadata"),
                )
        return Response(FolderSerializer(folder).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, uuid=None):
        folder = folder_get_for(user=request.user, pk=pk_or_404(uuid, "No such folder."))
        folder_services.folder_trash(user=request.user, folder=folder)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=FolderSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, uuid=None):
        folder = folder_get_for(user=request.user, pk=pk_or_404(uuid, "No such folder."), role=FolderRole.ADMIN, include_trashed=True)
        folder = folder_services.folder_restore(user=request.user, folder=folder)
        return Response(FolderSerializer(folder).data)

    @extend_schema(responses=FolderSerializer(many=True))
    @action(detail=False, methods=["get"])
    def trash(self, request):
        return Response(FolderSerializer(selectors.folder_trash_list(user=request.user), many=True).data)

    @extend_schema(request=FolderMemberSetSerializer, responses=FolderMemberSerializer(many=True))
    @action(detail=True, methods=["get", "post"])
    def members(self, request, uuid=None):
        folder = folder_get_for(user=request.user, pk=pk_or_404(uuid, "No such folder."))
        if request.method == "POST":
            data = validated(FolderMemberSetSerializer, request.data)
            member = User.objects.filter(email__iexact=data["email"]).first()
            if member is None:
                raise ValidationError({"email": "No user with that email."})
            folder_services.folder_member_set(user=request.user, folder=folder, member=member, role=data["role"])
        return Response(FolderMemberSerializer(selectors.folder_members(folder=folder), many=True).data)

    @extend_schema(responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<email>[^/]+)")
    def member_remove(self, request, uuid=None, email=None):
        folder = folder_get_for(user=request.user, pk=pk_or_404(uuid, "No such folder."))
        member = get_object_or_404(User, email__iexact=email)
        folder_services.folder_member_remove(user=request.user, folder=folder, member=member)
        return Response(status=status.HTTP_204_NO_CONTENT)


