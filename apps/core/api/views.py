"""REST endpoints for the signed-in user's organisations and API credentials."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from apps.core import selectors, services
from apps.core.api.serializers import (
    ApiTokenCreatedSerializer, ApiTokenCreateSerializer, ApiTokenSerializer, OrganisationSerializer,
    PublicKeyCreateSerializer, PublicKeySerializer,
)


# Ids in paths are matched by the route itself: anything else is a 404 before a view converts it
# (int("abc") in a lookup was a 500). 18 digits always fit a bigint.
ID_PATH_REGEX = "[0-9]{1,18}"
UUID_PATH_REGEX = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class OrganisationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = OrganisationSerializer
    pagination_class = None
    lookup_field = "uuid"
    lookup_value_regex = UUID_PATH_REGEX

    def get_queryset(self):
        return selectors.organisation_list(user=self.request.user)


class ApiTokenViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your API tokens. Creating one returns it once; deleting revokes it."""

    lookup_value_regex = ID_PATH_REGEX

    serializer_class = ApiTokenSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.api_token_list(user=self.request.user)

    @extend_schema(request=ApiTokenCreateSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        body = ApiTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(user=request.user, name=body.validated_data["name"])
        data = ApiTokenSerializer(token).data | {"token": plaintext}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.api_token_revoke(token=get_object_or_404(self.get_queryset(), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PublicKeyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Ed25519 public keys for signed requests from the Encord SDK."""

    lookup_value_regex = ID_PATH_REGEX
    serializer_class = PublicKeySerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.public_key_list(user=self.request.user)

    @extend_schema(request=PublicKeyCreateSerializer, responses={201: PublicKeySerializer})
    def create(self, request):
        body = PublicKeyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = services.public_key_add(user=request.user, **body.validated_data)
        return Response(PublicKeySerializer(key).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.public_key_delete(key=get_object_or_404(self.get_queryset(), pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
