"""REST endpoints for the metadata schema: read it (members), change it (organisation admins).

The organisation is the caller's only one, or the one named by ``?organisation=<uuid>`` (or an
``organisation`` field when creating a key). Services raise 403 for non-admins and field-keyed 400s.
"""

from __future__ import annotations

from dataclasses import asdict

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.helpers import request_organisation, validated
from apps.core.errors import ServiceValidationError
from apps.metadata import selectors
from apps.metadata.api.serializers import (
    MetadataKeyChangedSerializer, MetadataKeyCreateSerializer, MetadataKeySerializer,
    MetadataKeyUpdateSerializer, SchemaSavedSerializer, SchemaSerializer, embedder_spec_from,
)
from apps.metadata.services import schema as schema_services

ORGANISATION_PARAMETER = OpenApiParameter(
    "organisation", OpenApiTypes.UUID, description="needed only when you belong to several organisations"
)
KEY_NAME_REGEX = "[^/]+"  # key names hold letters, digits, "-", "_", "." and spaces; never "/"


def request_organisation_of(request, requested=None):
    """The organisation named in the body or ``?organisation=``, else the caller's only one."""
    return request_organisation(request.user, requested or request.query_params.get("organisation"))


def _key_or_404(organisation, name):
    key = selectors.schema_key_get(organisation=organisation, name=name)
    if key is None:
        raise Http404("No such metadata key.")
    return key


class SchemaView(APIView):
    """The whole schema: every key in every state; PUT replaces it from an Encord SDK v2 body."""

    @extend_schema(parameters=[ORGANISATION_PARAMETER], responses=SchemaSerializer)
    def get(self, request):
        organisation = request_organisation_of(request)
        keys = selectors.schema_keys(organisation=organisation)
        return Response({"organisation": organisation.pk, "keys": MetadataKeySerializer(keys, many=True).data})

    @extend_schema(
        parameters=[ORGANISATION_PARAMETER],
        request={"application/json": {
            "type": "object", "additionalProperties": {"type": "object"},
            "description": 'SDK v2 body: {"key": {"ty": "variant", "hint": "number"}, ...}',
        }},
        responses=SchemaSavedSerializer,
    )
    def put(self, request):
        organisation = request_organisation_of(request)
        report = schema_services.schema_save(user=request.user, organisation=organisation, body=request.data)
        keys = selectors.schema_keys(organisation=organisation)
        data = asdict(report) | {"keys": list(keys)}
        return Response(SchemaSavedSerializer(data).data)


@extend_schema(parameters=[ORGANISATION_PARAMETER, OpenApiParameter("name", str, OpenApiParameter.PATH)])
class SchemaKeyViewSet(viewsets.ViewSet):
    """Keys of the metadata schema, addressed by name."""

    lookup_field = "name"
    lookup_value_regex = KEY_NAME_REGEX
    serializer_class = MetadataKeySerializer

    @extend_schema(responses=MetadataKeySerializer(many=True))
    def list(self, request):
        keys = selectors.schema_keys(organisation=request_organisation_of(request))
        return Response(MetadataKeySerializer(keys, many=True).data)

    @extend_schema(request=MetadataKeyCreateSerializer, responses={201: MetadataKeySerializer})
    def create(self, request):
        data = validated(MetadataKeyCreateSerializer, request.data)
        organisation = request_organisation_of(request, data.pop("organisation", None))
        embedder = embedder_spec_from(data)
        key = schema_services.schema_key_add(user=request.user, organisation=organisation, embedder=embedder, **data)
        return Response(MetadataKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=MetadataKeySerializer)
    def retrieve(self, request, name=None):
        return Response(MetadataKeySerializer(_key_or_404(request_organisation_of(request), name)).data)

    @extend_schema(request=MetadataKeyUpdateSerializer, responses=MetadataKeyChangedSerializer)
    def partial_update(self, request, name=None):
        key = _key_or_404(request_organisation_of(request), name)
        data = validated(MetadataKeyUpdateSerializer, request.data)
        embedder = embedder_spec_from(data)
        if ("type" in data) + ("enum_values" in data) + (embedder is not None) != 1:
            raise ServiceValidationError(
                {"type": "Give one of: a new type, enum values to add, or an embedder (not several)."}
            )
        report = None
        if embedder is not None:
            key = schema_services.schema_key_embedder_set(user=request.user, key=key, embedder=embedder)
        elif "enum_values" in data:
            key = schema_services.schema_enum_values_add(user=request.user, key=key, values=data["enum_values"])
        else:
            report = schema_services.schema_key_retype(
                user=request.user, key=key, new_type=data["type"], max_length=data["max_length"]
            )
            key.refresh_from_db()
        return Response(MetadataKeyChangedSerializer(key, context={"report": report}).data)

    @extend_schema(responses={204: None}, description="Hard delete: the name stays taken; no restore.")
    def destroy(self, request, name=None):
        key = _key_or_404(request_organisation_of(request), name)
        schema_services.schema_key_hard_delete(user=request.user, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=MetadataKeySerializer, description="Soft delete (restorable).")
    @action(detail=True, methods=["post"], url_path="delete")
    def soft_delete(self, request, name=None):
        key = _key_or_404(request_organisation_of(request), name)
        key = schema_services.schema_key_soft_delete(user=request.user, key=key)
        return Response(MetadataKeySerializer(key).data)

    @extend_schema(request=None, responses=MetadataKeySerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, name=None):
        key = _key_or_404(request_organisation_of(request), name)
        key = schema_services.schema_key_restore(user=request.user, key=key)
        return Response(MetadataKeySerializer(key).data)
