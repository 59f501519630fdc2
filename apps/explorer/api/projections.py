"""REST doors of the 2-D projection: ``/api/v1/similarity/projections/<key>`` (binary points),
``.../status`` (JSON), ``.../values`` (binary colour values) and ``.../recompute`` (POST).

Every response holds only points of items the caller may see now (``apps.similarity.selectors``).
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.helpers import request_organisation
from apps.core.errors import ServiceValidationError
from apps.explorer import selectors_map
from apps.similarity import selectors, services

ORGANISATION = OpenApiParameter("organisation", OpenApiTypes.UUID,
                                description="needed only when you belong to several organisations")
STATUS_HEADERS = ("X-Projection-Status", "X-Projection-Computed-At", "X-Projection-Points")


def _projection(request, key: str):
    organisation = request_organisation(request.user, request.query_params.get("organisation"))
    embedding_key = selectors.projection_key(organisation=organisation, name=key)
    return organisation, embedding_key, selectors.projection_for(organisation=organisation, key=embedding_key)


def _binary(payload: bytes, state: dict) -> HttpResponse:
    response = HttpResponse(payload, content_type="application/octet-stream")
    response["X-Projection-Status"] = state["status"]
    response["X-Projection-Computed-At"] = state["computed_at"] or ""
    response["Cache-Control"] = "private, no-store"
    response["Access-Control-Expose-Headers"] = ", ".join(STATUS_HEADERS)
    return response


class ProjectionPointsView(APIView):
    """The points of an embedding key's 2-D projection, as binary (see ``selectors_map.projection_payload``)."""

    @extend_schema(operation_id="similarity_projection_points", parameters=[ORGANISATION], responses={
        (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description=(
            'Little-endian: b"LPJ1", count n (uint32), x[n], y[n] (float32 in [-1, 1]), ordinal[n] (uint32), '
            "n item UUIDs (16 bytes each). Header X-Projection-Status: fresh | stale | computing | failed | none.")),
        404: OpenApiResponse(OpenApiTypes.OBJECT, description="No such embedding key.")})
    def get(self, request, key: str):
        organisation, _, projection = _projection(request, key)
        if projection is None:
            return _binary(selectors.PAYLOAD_MAGIC + bytes(4), selectors.projection_state(None))
        payload = selectors_map.projection_payload(user=request.user, organisation=organisation, projection=projection)
        return _binary(payload, {"status": projection.status, "computed_at": projection.computed_at
                                 and projection.computed_at.isoformat()})


class ProjectionStatusView(APIView):
    """Whether the key's projection is fresh, stale (vectors changed since), computing (with progress) or failed."""

    @extend_schema(operation_id="similarity_projection_status", parameters=[ORGANISATION],
                   responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request, key: str):
        _, _, projection = _projection(request, key)
        return Response(selectors.projection_state(projection))


class ProjectionRecomputeView(APIView):
    """Ask for the key's projection to be computed again (202; a running computation is not started twice)."""

    @extend_schema(operation_id="similarity_projection_recompute", parameters=[ORGANISATION], request=None,
                   responses={202: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def post(self, request, key: str):
        organisation, embedding_key, _ = _projection(request, key)
        projection = services.projection_request(organisation=organisation, key=embedding_key)
        return Response(selectors.projection_state(projection), status=202)


class ProjectionValuesView(APIView):
    """One metadata key's (``?key=``) or built-in field's (``?field=``) values for the visible points, as
    binary, to colour the map (see ``selectors_map.projection_colour_values``)."""

    @extend_schema(operation_id="similarity_projection_values", parameters=[
        ORGANISATION, OpenApiParameter("key", OpenApiTypes.STR, description="a metadata key"),
        OpenApiParameter("field", OpenApiTypes.STR, description="or a built-in field (type, status, created...)"),
    ], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 400: OpenApiTypes.OBJECT,
                  404: OpenApiTypes.OBJECT})
    def get(self, request, key: str):
        organisation, _, projection = _projection(request, key)
        targets = [t for t in ("key", "field") if t in request.query_params]
        if len(targets) != 1:
            raise ServiceValidationError({"key": 'Name one of "key" (a metadata key) or "field" (a built-in).'})
        target = targets[0]
        name = request.query_params[target]
        if projection is None:
            return _binary(bytes(4) + bytes(4), selectors.projection_state(None))
        payload = selectors_map.projection_colour_values(user=request.user, organisation=organisation,
                                                     projection=projection, target=target, name=name)
        return _binary(payload, {"status": projection.status, "computed_at": None})
