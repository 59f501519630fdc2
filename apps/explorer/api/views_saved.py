"""``/api/v1/explore/views``: saved Explorer states, a thin door over ``services_views``/``selectors_views``.

``GET /views`` lists yours and those shared in your organisations; ``GET /views/<uuid>`` opens one: its
state checked again for you (the schema or your access may have changed since it was saved; what no
longer holds is a 400 naming the place) with ``search``, the body to send to ``POST /explore/search``.
Another member's private view, or another organisation's, is a 404; a shared view you do not own is a
403 to change (and to delete, unless you are an admin of its organisation).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from apps.core.api.helpers import UUID_PARAMETER, UUID_REGEX, pk_or_404, request_organisation
from apps.core.errors import ServiceValidationError
from apps.core.selectors import organisation_admin_ids
from apps.explorer import selectors_views, services_views
from apps.explorer.api.serializers_saved import SavedViewSerializer, SavedViewWriteSerializer
from apps.explorer.selection import scope_from_json

MEMBERS = ("name", "shared", "organisation", "scope", "filter", "q", "sort", "view")
ORGANISATION_PARAMETER = OpenApiParameter("organisation", OpenApiTypes.UUID, description=(
    "list: only this organisation's views; create: needed only when you belong to several organisations"))
REFUSED = OpenApiResponse(OpenApiTypes.OBJECT, description='Refused, naming the place: {"name": ["You already have '
                          'a saved view named ..."]}, {"filter.and[1]": ["key \\"score\\" is number: ..."]}.')
NOT_FOUND = OpenApiResponse(OpenApiTypes.OBJECT, description="No such saved view (or another member's private one).")
FORBIDDEN = OpenApiResponse(OpenApiTypes.OBJECT, description="The view is shared with you but is not yours.")
EXAMPLE_BODY = {
    "name": "Night-time cam3/cam4 over 0.8",
    "shared": True,
    "scope": {"folder": None, "recursive": True},
    "filter": {"and": [{"key": "camera", "op": "in", "value": ["cam3", "cam4"]},
                       {"key": "score", "op": "gt", "value": 0.8}]},
    "q": "not night",
    "sort": [{"key": "score", "desc": True}],
    "view": {"layout": "table", "columns": [{"field": "name"}, {"key": "camera"}, {"key": "score"}]},
}
EXAMPLE_OPENED = {
    "uuid": "6a1f2f0e-4f0e-4b8e-9d7c-2f1b3c4d5e6f", "organisation": "0d6e2c44-7d1e-4b55-9d0a-51b6a2f3c101",
    "name": EXAMPLE_BODY["name"], "shared": True, "owner": "alice@example.com", "owned": True, "can_delete": True,
    "scope": EXAMPLE_BODY["scope"], "filter": EXAMPLE_BODY["filter"], "q": "not night",
    "sort": [{"key": "score", "desc": True}], "view": EXAMPLE_BODY["view"],
    "search": {"method": "POST", "url": "/api/v1/explore/search?organisation=0d6e2c44-7d1e-4b55-9d0a-51b6a2f3c101",
               "body": {"scope": EXAMPLE_BODY["scope"], "filter": EXAMPLE_BODY["filter"], "q": "not night",
                        "sort": [{"key": "score", "desc": True}]}},
    "created_at": "2026-12-03T14:00:00Z", "updated_at": "2026-12-03T14:00:00Z",
}


def view_body(data, *, creating: bool) -> dict:
    """The body as ``services_views`` keywords, member by member (field-keyed 400s, no type coercion:
    the services check the values, this checks the shape)."""
    if not isinstance(data, dict):
        raise ServiceValidationError({"detail": "The body is a JSON object."})
    unknown = sorted(set(data) - set(MEMBERS))
    if unknown:
        raise ServiceValidationError({name: "Unknown member." for name in unknown[:10]})
    if creating and "name" not in data:
        raise ServiceValidationError({"name": "A saved view needs a name."})
    if not creating and "organisation" in data:
        raise ServiceValidationError({"organisation": "A saved view stays in its organisation."})
    changes = {member: data[member] for member in ("name", "shared", "filter", "q", "sort") if member in data}
    if "scope" in data:
        changes |= _scope(data["scope"], creating=creating)
    if "view" in data:
        layout = data["view"]
        if not isinstance(layout, dict) or set(layout) - {"layout", "columns"}:
            raise ServiceValidationError({"view": 'An object {"layout": "grid" | "table", "columns": [...]}.'})
        changes |= layout
    return changes


def _scope(scope, *, creating: bool) -> dict:
    """The scope fields a create sets, or those a PATCH names, read as every Explorer door reads a scope."""
    folder, recursive = scope_from_json(scope)
    if scope is None:
        return {"folder_pk": None, "recursive": True}
    found = {"folder_pk": folder} if "folder" in scope or creating else {}
    if "recursive" in scope:
        found["recursive"] = recursive
    return found


@extend_schema(parameters=[UUID_PARAMETER])
class SavedViewViewSet(viewsets.ViewSet):
    """Saved Explorer views: yours, and those shared in your organisations."""

    lookup_field = "uuid"
    lookup_value_regex = UUID_REGEX
    serializer_class = SavedViewSerializer

    def _render(self, request, views, **kwargs):
        context = {"user": request.user, "admin_of": organisation_admin_ids(user=request.user)}
        return SavedViewSerializer(views, context=context, **kwargs).data

    def _view(self, request, uuid):
        return selectors_views.saved_view_get(user=request.user, pk=pk_or_404(uuid, "No such saved view."))

    @extend_schema(operation_id="explore_views_list", parameters=[ORGANISATION_PARAMETER],
                   responses={200: SavedViewSerializer(many=True), 400: REFUSED})
    def list(self, request):
        requested = request.query_params.get("organisation")
        organisation = request_organisation(request.user, requested) if requested is not None else None
        views = selectors_views.saved_view_list(user=request.user, organisation=organisation)
        return Response(self._render(request, views, many=True))

    @extend_schema(
        operation_id="explore_views_create", parameters=[ORGANISATION_PARAMETER], request=SavedViewWriteSerializer,
        responses={201: SavedViewSerializer, 400: REFUSED, 404: NOT_FOUND},
        examples=[OpenApiExample("a shared table of night-time cam3/cam4 frames", value=EXAMPLE_BODY,
                                 request_only=True)],
    )
    def create(self, request):
        changes = view_body(request.data, creating=True)
        organisation = request_organisation(request.user, changes.pop("organisation", None)
                                            or request.query_params.get("organisation"))
        view = services_views.saved_view_create(user=request.user, organisation=organisation, **changes)
        return Response(self._render(request, view), status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="explore_views_open", responses={200: SavedViewSerializer, 400: REFUSED, 404: NOT_FOUND},
        description="Open a view: its state checked again for you. `search.body` is what to POST to "
                    "`search.url` (add `page_size` and `page_token`). A key deleted or re-typed since the "
                    "view was saved, or a folder you cannot see, is a 400 naming the place.",
        examples=[OpenApiExample("an opened view", value=EXAMPLE_OPENED, response_only=True)],
    )
    def retrieve(self, request, uuid=None):
        view = self._view(request, uuid)
        selectors_views.saved_view_search(user=request.user, view=view)
        return Response(self._render(request, view))

    @extend_schema(
        operation_id="explore_views_update", request=SavedViewWriteSerializer,
        responses={200: SavedViewSerializer, 400: REFUSED, 403: FORBIDDEN, 404: NOT_FOUND},
        description="Rename, (un)share or change the state: the members given (owner only).",
        examples=[OpenApiExample("rename and share", value={"name": "Night cams", "shared": True},
                                 request_only=True)],
    )
    def partial_update(self, request, uuid=None):
        view = self._view(request, uuid)
        view = services_views.saved_view_update(user=request.user, view=view,
                                                **view_body(request.data, creating=False))
        return Response(self._render(request, view))

    @extend_schema(operation_id="explore_views_delete", responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND})
    def destroy(self, request, uuid=None):
        services_views.saved_view_delete(user=request.user, view=self._view(request, uuid))
        return Response(status=status.HTTP_204_NO_CONTENT)
