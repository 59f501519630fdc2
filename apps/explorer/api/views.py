"""``POST /api/v1/explore/search``: a thin door over ``apps.explorer.selectors``.

The body is read strictly (no type coercion: ``"page_size": "5"`` is refused, not read as 5) and
every refusal is a 400 keyed by where it is (``filter.and[1]``, ``q``, ``sort[0]``, ``page_size``); a
scope folder the caller cannot see is a 404, as everywhere.
"""

from __future__ import annotations


from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.helpers import request_organisation
from apps.core.errors import ServiceValidationError
from apps.core.parsers import StrictJSONParser
from apps.explorer.api.serializers import ExploreItemSerializer, ExploreResultSerializer, ExploreSearchSerializer
from apps.explorer.filters import filter_from_json
from apps.explorer.counting import explore_count_answer
from apps.explorer.selection import scope_from_json
from apps.explorer.selectors import (
    PAGE_SIZE_MAX, explore_filter, explore_folder, explore_items, sort_from_json,
)
from apps.explorer.selectors_similar import explore_similar
from apps.similarity.query import similar_k

BODY_MEMBERS = ("scope", "filter", "q", "sort", "page_size", "page_token", "similar_to", "k")
EXAMPLE_BODY = {
    "scope": {"folder": None, "recursive": True},
    "filter": {"and": [{"key": "camera", "op": "in", "value": ["cam3", "cam4"]},
                       {"key": "score", "op": "gt", "value": 0.8},
                       {"not": {"key": "night", "op": "eq", "value": True}}]},
    "q": None,
    "sort": [{"key": "score", "desc": True}, {"field": "created"}],
    "page_size": 100,
    "page_token": None,
}


def search_body(data) -> dict:
    """The search body checked member by member (field-keyed 400s), with defaults filled in."""
    if not isinstance(data, dict):
        raise ServiceValidationError({"detail": "The body is a JSON object."})
    unknown = sorted(set(data) - set(BODY_MEMBERS))
    if unknown:
        raise ServiceValidationError({name: "Unknown member." for name in unknown[:10]})
    folder, recursive = scope_from_json(data.get("scope"))
    q = data.get("q")
    if q is not None and not isinstance(q, str):
        raise ServiceValidationError({"q": "A written expression is a string."})
    page_size = data.get("page_size", 100)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ServiceValidationError({"page_size": f"A whole number from 1 to {PAGE_SIZE_MAX}."})
    token = data.get("page_token")
    if token is not None and not isinstance(token, str):
        raise ServiceValidationError({"page_token": "A next_page_token string, or null."})
    similar = data.get("similar_to") is not None
    if similar:
        refused = {name: "Results of similar_to come nearest first, k of them in one answer: leave "
                         f"\"{name}\" out (\"k\" sets how many)." for name in ("sort", "page_size", "page_token")
                   if data.get(name) is not None}
        if refused:
            raise ServiceValidationError(refused)
    elif data.get("k") is not None:
        raise ServiceValidationError({"k": '"k" goes with "similar_to".'})
    raw_filter = data.get("filter")
    return {
        "folder": folder, "recursive": recursive, "page_size": page_size, "page_token": token or None,
        "tree": explore_filter(tree=filter_from_json(raw_filter) if raw_filter is not None else None, q=q),
        "sort": sort_from_json(data.get("sort")),
        "similar_to": data.get("similar_to"), "k": similar_k(data.get("k")) if similar else None,
    }


class ExploreSearchView(APIView):
    """Search the items you may see: scope, filter (a tree, a written expression, or both), sort, pages;
    or, with ``similar_to``, the ``k`` nearest of them to an item, a vector, a sentence or an image."""

    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="explore_search",
        parameters=[OpenApiParameter("organisation", OpenApiTypes.UUID,
                                     description="needed only when you belong to several organisations")],
        request=ExploreSearchSerializer,
        responses={
            200: ExploreResultSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description='Refused, naming the place: '
                                 '{"filter.and[1]": ["key \\"score\\" is number: it takes ..."]}.'),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="The scope folder, or the similar_to item, is "
                                                                  "unknown or not yours."),
        },
        examples=[OpenApiExample("night-time cam3/cam4 frames scoring over 0.8", value=EXAMPLE_BODY,
                                 request_only=True),
                  OpenApiExample("the same as a written expression", request_only=True, value={
                      "q": 'camera in ("cam3", "cam4") and score > 0.8 and not night',
                      "sort": [{"key": "score", "desc": True}], "page_size": 100}),
                  OpenApiExample("more like this item, among cam3 items", request_only=True, value={
                      "similar_to": {"key": "clip", "item": "0b6a3c1e-6f1d-4c1a-9a57-3f3f0c6f7a10"},
                      "q": 'camera = "cam3"', "k": 20}),
                  OpenApiExample("nearest to frame 120 of a video", request_only=True, value={
                      "similar_to": {"key": "clip", "item": "0b6a3c1e-6f1d-4c1a-9a57-3f3f0c6f7a10", "frame": 120}}),
                  OpenApiExample("nearest to a raw vector", request_only=True, value={
                      "similar_to": {"key": "clip3", "vector": [0.12, -0.5, 0.83]}, "k": 10}),
                  OpenApiExample("a sentence, on a key with a text embedder", request_only=True, value={
                      "similar_to": {"key": "text", "text": "a red car at night in the rain"}, "k": 50}),
                  OpenApiExample("nearest first, with distances", response_only=True, status_codes=["200"], value={
                      "count": 1, "count_exact": True, "next_page_token": None, "results": [{
                          "uuid": "5d0c7a4e-2b7e-4d3c-8f5e-1b2a3c4d5e6f", "name": "frame-042.jpg", "type": "image",
                          "folder": "9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4", "status": "ready",
                          "created_at": "2026-11-01T10:00:00Z", "width": 640, "height": 480, "duration": None,
                          "fps": None, "file_size": 52311, "metadata": {"camera": "cam3"},
                          "thumbnail_url": "/items/5d0c7a4e-2b7e-4d3c-8f5e-1b2a3c4d5e6f/preview",
                          "distance": 0.0412}]}),
                  OpenApiExample("refused: a vector of the wrong size", response_only=True, status_codes=["400"],
                                 value={"similar_to.vector": ['Key "clip3" holds 3-d vectors; this one has 4.']})],
    )
    def post(self, request):
        organisation = request_organisation(request.user, request.query_params.get("organisation"))
        body = search_body(request.data)
        folder = explore_folder(user=request.user, organisation=organisation, pk=body["folder"]) \
            if body["folder"] else None
        scope = {"user": request.user, "organisation": organisation, "scope_folder": folder,
                 "recursive": body["recursive"], "tree": body["tree"]}
        if body["similar_to"] is not None:
            return self._similar(scope, body)
        page = explore_items(**scope, sort=body["sort"], page_size=body["page_size"], page_token=body["page_token"])
        count = explore_count_answer(**scope)  # exact when cheap, else the planner's estimate: never blocks
        return Response({
            "count": count.count, "count_exact": count.exact,
            "results": ExploreItemSerializer(page.rows, many=True).data,
            "next_page_token": page.next_token,
        })

    def _similar(self, scope: dict, body: dict):
        """The k nearest matching items, nearest first, each with its distance: one answer, no pages."""
        _query, answer = explore_similar(**scope, similar_to=body["similar_to"], k=body["k"])
        rows = []
        for hit in answer.hits:
            hit.item.distance = hit.distance
            rows.append(hit.item)
        return Response({"count": len(rows), "count_exact": True,
                         "results": ExploreItemSerializer(rows, many=True).data, "next_page_token": None})
