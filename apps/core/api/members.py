"""REST endpoints for an organisation's members: members read the list, admins add, re-role and remove.

The organisation is the caller's only one, or the one named by ``?organisation=<uuid>`` (as for the
metadata schema). A member is addressed by their user id. Removing one ends their access at once and
deletes their folder roles in the organisation (``organisation_member_remove``).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.response import Response

from apps.core import selectors, services
from apps.core.api.helpers import request_organisation
from apps.core.api.serializers import (
    OrganisationMemberAddSerializer,
    OrganisationMemberRoleSerializer,
    OrganisationMemberSerializer,
)
from apps.core.models import Organisation, OrganisationMember

ORGANISATION_PARAMETER = OpenApiParameter(
    "organisation", OpenApiTypes.UUID, description="needed only when you belong to several organisations"
)
USER_ID_REGEX = "[0-9]{1,18}"  # a bigint; anything else is not a member's URL (404, never a database error)
BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description='Refused, field by field: {"role": ["…"]}.')
NOT_ADMIN = OpenApiResponse(OpenApiTypes.OBJECT, description="You are not an admin of the organisation.")
NO_MEMBER = OpenApiResponse(
    OpenApiTypes.OBJECT, description="No member of the organisation has that user id."
)


def caller_organisation(request) -> Organisation:
    """The organisation the request is about (``?organisation=``, else the caller's only one)."""
    return request_organisation(request.user, request.query_params.get("organisation"))


@extend_schema_view(
    list=extend_schema(parameters=[ORGANISATION_PARAMETER],
                       responses={200: OrganisationMemberSerializer(many=True), 400: BAD_REQUEST}),
    retrieve=extend_schema(parameters=[ORGANISATION_PARAMETER],
                           responses={200: OrganisationMemberSerializer, 400: BAD_REQUEST, 404: NO_MEMBER}),
)
class OrganisationMemberViewSet(viewsets.GenericViewSet):
    """Members of your organisation. Every member may read the list; only its admins change it."""

    serializer_class = OrganisationMemberSerializer
    pagination_class = None
    lookup_field = "user"
    lookup_value_regex = USER_ID_REGEX

    def get_queryset(self):
        return selectors.organisation_member_list(organisation=caller_organisation(self.request))

    def list(self, request):
        return Response(OrganisationMemberSerializer(self.get_queryset(), many=True).data)

    def retrieve(self, request, user=None):
        return Response(OrganisationMemberSerializer(self._member(user)).data)

    @extend_schema(parameters=[ORGANISATION_PARAMETER], request=OrganisationMemberAddSerializer,
                   responses={201: OrganisationMemberSerializer, 400: BAD_REQUEST, 403: NOT_ADMIN})
    def create(self, request):
        organisation = self._admin_organisation()
        body = OrganisationMemberAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member = services.organisation_member_add(
            organisation=organisation, by=request.user, **body.validated_data
        )
        return Response(OrganisationMemberSerializer(self._member(member.user_id)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[ORGANISATION_PARAMETER], request=OrganisationMemberRoleSerializer,
                   responses={200: OrganisationMemberSerializer, 400: BAD_REQUEST, 403: NOT_ADMIN,
                              404: NO_MEMBER})
    def partial_update(self, request, user=None):
        organisation = self._admin_organisation()
        member = self._member(user)
        body = OrganisationMemberRoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.organisation_member_set(organisation=organisation, user=member.user, by=request.user,
                                         role=body.validated_data["role"])
        return Response(OrganisationMemberSerializer(self._member(user)).data)

    @extend_schema(parameters=[ORGANISATION_PARAMETER],
                   responses={204: None, 400: BAD_REQUEST, 403: NOT_ADMIN, 404: NO_MEMBER})
    def destroy(self, request, user=None):
        organisation = self._admin_organisation()
        member = self._member(user)
        services.organisation_member_remove(organisation=organisation, user=member.user, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _admin_organisation(self) -> Organisation:
        """The caller's organisation, once they are known to administer it (403 before the body is read)."""
        organisation = caller_organisation(self.request)
        if not selectors.organisation_is_admin(user=self.request.user, organisation=organisation):
            raise PermissionDenied("Only organisation admins can manage its members.")
        return organisation

    def _member(self, user_id) -> OrganisationMember:
        member = self.get_queryset().filter(user_id=user_id).first()
        if member is None:
            raise Http404("No member of the organisation has that user id.")
        return member
