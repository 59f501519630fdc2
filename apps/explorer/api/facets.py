"""``POST /api/v1/explore/facets`` and ``POST /api/v1/explore/count``: thin doors over
``apps.explorer.facets`` and ``apps.explorer.selectors.explore_count``.

Both read the scope and filter exactly as the search does (``search_body``: the same strict checks and
field-keyed 400s); the facets body adds ``keys``. The count door always answers the exact count: the
page asks it after a search answered an estimate (``count_exact: false``).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.helpers import request_organisation
from apps.core.errors import ServiceValidationError
from apps.core.parsers import StrictJSONParser
from apps.explorer.api.serializers import FilterField, ScopeSerializer
from apps.explorer.api.views import search_body
from apps.explorer.facets import (
    EXACT_MAX_ROWS, HISTOGRAM_BINS, MAX_FACET_KEYS, TOP_VALUES, explore_facets, facet_keys_from_json,
)
from apps.explorer.selectors import explore_count, explore_folder

SCOPE_MEMBERS = ("scope", "filter", "q")
ORGANISATION_PARAMETER = OpenApiParameter("organisation", OpenApiTypes.UUID,
                                          description="needed only when you belong to several organisations")
REFUSED = OpenApiResponse(OpenApiTypes.OBJECT, description='Refused, naming the place: '
                          '{"keys[1]": ["key \\"caption\\" is text: facets count ..."]} or {"filter.and[0]": [...]}.')
NOT_FOUND = OpenApiResponse(OpenApiTypes.OBJECT, description="The scope folder is unknown or not yours.")


def _scope(request, data, *, extra: tuple[str, ...] = ()) -> dict:
    """The caller's scope and filter tree from the body (``search_body``'s checks, search-only members refused)."""
    if not isinstance(data, dict):
        raise ServiceValidationError({"detail": "The body is a JSON object."})
    unknown = sorted(set(data) - set(SCOPE_MEMBERS) - set(extra))
    if unknown:
        raise ServiceValidationError({name: "Unknown member." for name in unknown[:10]})
    organisation = request_organisation(request.user, request.query_params.get("organisation"))
    body = search_body({name: data[name] for name in SCOPE_MEMBERS if name in data})
    folder = explore_folder(user=request.user, organisation=organisation, pk=body["folder"]) \
        if body["folder"] else None
    return {"user": request.user, "organisation": organisation, "scope_folder": folder,
            "recursive": body["recursive"], "tree": body["tree"]}


class ExploreScopeSerializer(serializers.Serializer):
    scope = ScopeSerializer(required=False, allow_null=True)
    filter = FilterField(required=False, allow_null=True)
    q = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                              help_text="a written expression, as in /explore/search")


class ExploreFacetsRequestSerializer(ExploreScopeSerializer):
    keys = serializers.ListField(
        child=serializers.JSONField(), min_length=1, max_length=MAX_FACET_KEYS,
        help_text='"<metadata key>", {"key": "<metadata key>"} or {"field": "<built-in>"}: boolean, enum, varchar, '
                  "uuid and undeclared keys and the type/status/name/folder fields are counted; number and datetime "
                  "keys and file_size/width/height/duration/fps/created are histograms")


class FacetCountSerializer(serializers.Serializer):
    value = serializers.JSONField()
    count = serializers.IntegerField()


class FacetSerializer(serializers.Serializer):
    key = serializers.CharField(required=False, help_text="the metadata key (or `field` for a built-in)")
    field = serializers.CharField(required=False)
    type = serializers.CharField(help_text="boolean, enum, varchar, uuid, untyped, number or datetime")
    counts = serializers.JSONField(help_text=f"counted types: [{{value, count}}] (every boolean/enum value, zeros "
                                             f"included; the top {TOP_VALUES} otherwise, most frequent first); "
                                             f"histograms: one count per bin")
    other = serializers.IntegerField(required=False, help_text="counted types: items with a value not listed")
    missing = serializers.IntegerField(help_text="items without a value of the key's type")
    bins = serializers.ListField(child=serializers.JSONField(), required=False,
                                 help_text=f"histograms: the {HISTOGRAM_BINS} + 1 bin edges (numbers, or ISO 8601 "
                                           "instants for datetimes); one bin when min = max, none without values")
    min = serializers.JSONField(required=False, allow_null=True)
    max = serializers.JSONField(required=False, allow_null=True)


class ExploreFacetsSerializer(serializers.Serializer):
    facets = FacetSerializer(many=True)
    count = serializers.IntegerField(help_text="the items the facets describe: exact, or estimated from the sample")
    approximate = serializers.BooleanField(
        help_text=f"true when the result held more than {EXACT_MAX_ROWS:,} items: the facets were read from a "
                  "sample of the item table and scaled to `count` (each facet's counts + other + missing = count; "
                  "histogram bins span the sample's min and max)")
    sample_percent = serializers.FloatField(allow_null=True, help_text="the sampled share of the item table, "
                                                                       "null when exact")


class ExploreCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    count_exact = serializers.BooleanField(help_text="always true here")


FACETS_EXAMPLE = {
    "scope": {"folder": None, "recursive": True},
    "q": "score > 0.5 and not night",
    "keys": ["camera", "night", {"key": "score"}, {"field": "width"}],
}
FACETS_ANSWER = {"facets": [
    {"key": "camera", "type": "enum", "counts": [{"value": "cam1", "count": 31}, {"value": "cam2", "count": 0}],
     "other": 2, "missing": 4},
    {"key": "night", "type": "boolean", "counts": [{"value": True, "count": 0}, {"value": False, "count": 22}],
     "other": 0, "missing": 15},
    {"key": "score", "type": "number", "bins": [0.5, 0.75, 1.0], "counts": [20, 17], "min": 0.5, "max": 1.0,
     "missing": 0},
    {"field": "width", "type": "number", "bins": [640, 840, 1040], "counts": [19, 14], "min": 640, "max": 1040,
     "missing": 4},
], "count": 37, "approximate": False, "sample_percent": None}


class ExploreFacetsView(APIView):
    """Counts per value and histograms of the items a search would find (same scope and filter)."""

    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="explore_facets", parameters=[ORGANISATION_PARAMETER], request=ExploreFacetsRequestSerializer,
        responses={200: ExploreFacetsSerializer, 400: REFUSED, 404: NOT_FOUND},
        examples=[OpenApiExample("the sidebar of a filtered view", value=FACETS_EXAMPLE, request_only=True),
                  OpenApiExample("its facets (2 bins shown of 20)", value=FACETS_ANSWER, response_only=True)],
    )
    def post(self, request):
        scope = _scope(request, request.data, extra=("keys",))
        keys = facet_keys_from_json(request.data.get("keys"))
        answer = explore_facets(**scope, keys=keys)
        return Response({"facets": answer.facets, "count": answer.count, "approximate": answer.approximate,
                         "sample_percent": answer.sample_percent})


class ExploreCountView(APIView):
    """The exact number of items a search finds (for after a search answered an estimate)."""

    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="explore_count", parameters=[ORGANISATION_PARAMETER], request=ExploreScopeSerializer,
        responses={200: ExploreCountSerializer, 400: REFUSED, 404: NOT_FOUND},
        examples=[OpenApiExample("count a filter", request_only=True,
                                 value={"scope": {"folder": None}, "q": 'camera = "cam3" and score > 0.8'}),
                  OpenApiExample("the exact count", response_only=True, value={"count": 48213, "count_exact": True})],
    )
    def post(self, request):
        return Response({"count": explore_count(**_scope(request, request.data)), "count_exact": True})
