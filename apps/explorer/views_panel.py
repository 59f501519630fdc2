"""Fragments the Explorer page loads after its results, so it never waits for them: the side panel of
one item, the sidebar's facet counts and histograms, and the exact count when the page showed an estimate.

The facets and count fragments read the page's own query string (``forms.explore_state``) and call the
selectors the page and the REST doors call (``explore_facets``, ``explore_count``): the same scope,
visibility rule and compiler. The panel shows an item through ``item_get_for`` (the storage visibility
rule): an item one may not see is a 404, as on its own page. A filter refused there answers 400 with
its message; the page already shows such errors where the results go.
"""

from __future__ import annotations

import json

from django.db import DataError, transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.errors import ServiceValidationError, database_input_refusal
from apps.explorer.facets import MAX_FACET_KEYS, FacetKey, explore_facets
from apps.explorer.filters import filter_from_json
from apps.explorer.forms import error_list, explore_state
from apps.explorer.selectors import explore_count, explore_filter, explore_folder
from apps.explorer.views import page_organisation
from apps.metadata.selectors import schema_for
from apps.similarity.selectors import item_similar_keys
from apps.storage.selectors_items import item_get_for
from apps.storage.views_items import item_viewer_context

FACETED = ("boolean", "enum", "varchar", "uuid", "number", "datetime")  # the sidebar types with counts
TOP_SHOWN = 10  # varchar values listed under a text box (the facet answers up to 50)
PANEL_METADATA_MAX = 200  # keys listed in the panel; the item page lists them all


def page_search(request) -> tuple[dict, object]:
    """(scope keywords, state) of the page's query string; the filter tree is ``scope["tree"]``.

    Raises ``Http404`` for an organisation or folder one may not see and ``ServiceValidationError``
    for a filter or sidebar value the page refuses."""
    organisation = page_organisation(request, request.GET.get("organisation", "")[:64])
    if organisation is None:
        raise Http404("No organisation.")
    specs = sorted(schema_for(organisation_id=organisation.pk).keys.values(), key=lambda spec: spec.name)
    state = explore_state(request.GET, specs)
    if state.errors:
        raise ServiceValidationError(state.errors)
    folder = explore_folder(user=request.user, organisation=organisation, pk=state.folder) if state.folder else None
    tree = explore_filter(tree=filter_from_json(state.tree_json) if state.tree_json else None, q=state.q)
    return {"user": request.user, "organisation": organisation, "scope_folder": folder,
            "recursive": state.recursive, "tree": tree}, state


def _refused(request, messages: list[str]) -> HttpResponse:
    return render(request, "explorer/_facets.html#refused", {"messages": messages}, status=400)


def _guarded(request, read):
    """``read()`` in a savepoint, with refused filters and values answered 400 (never a 500)."""
    try:
        with transaction.atomic():
            return read()
    except ServiceValidationError as exc:
        return _refused(request, [f"{place}: {m}" for place, ms in error_list(exc).items() for m in ms])
    except DataError as exc:
        reason = database_input_refusal(exc)
        if reason is None:
            raise
        return _refused(request, [f"Refused by the database: {reason}."])


def _facet_keys(state) -> list[tuple[str, FacetKey]]:
    """(the sidebar block's name, the facet to ask for) for every block that has counts or a histogram."""
    keys = [(facet.param, FacetKey(facet.target, facet.name)) for facet in state.facets
            if facet.type in FACETED and facet.param != "$name"]
    if state.any_key.name and not state.any_key.declared:
        keys.append(("any-key", FacetKey("key", state.any_key.name)))
    return keys


@require_GET
def explore_facets_fragment(request):
    """The sidebar's counts and histograms for the page's current scope and filter."""
    def read():
        scope, state = page_search(request)
        keys = _facet_keys(state)
        facets, sampled = [], None
        for start in range(0, len(keys), MAX_FACET_KEYS):
            chunk = keys[start:start + MAX_FACET_KEYS]
            answer = explore_facets(**scope, keys=tuple(key for _, key in chunk))
            facets += [facet_view(param, facet) for (param, _), facet in zip(chunk, answer.facets)]
            sampled = answer.sample_percent if answer.approximate else sampled
        return render(request, "explorer/_facets.html", {"facets": facets, "sample_percent": sampled})
    return _guarded(request, read)


def facet_view(param: str, answer: dict) -> dict:
    """One facet answer as the template draws it: bars scaled to the largest count."""
    counts = answer["counts"]
    if "bins" in answer:
        peak = max(counts, default=0) or 1
        bars = [{"count": n, "low": answer["bins"][i], "high": answer["bins"][i + 1], "height": round(100 * n / peak), "top": 100 - round(100 * n / peak)}
                for i, n in enumerate(counts)]
        return {"param": param, "kind": "histogram", "bars": bars, "answer": answer,
                "width": max(len(bars), 1)}
    by_value = {_label(entry["value"]): entry["count"] for entry in counts}
    kind = "counts" if answer["type"] in ("boolean", "enum") else "top"
    return {"param": param, "kind": kind, "counts_json": json.dumps(by_value, ensure_ascii=False), "answer": answer,
            "top": list(by_value.items())[:TOP_SHOWN]}


def _label(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@require_GET
def explore_count_fragment(request):
    """The exact count of the page's current result (the page showed the planner's estimate first)."""
    def read():
        scope, _ = page_search(request)
        return render(request, "explorer/_facets.html#exact-count", {"count": explore_count(**scope)})
    return _guarded(request, read)


@require_GET
def item_panel(request, pk):
    """One item's viewer, facts and metadata for the Explorer's side panel (404 when not one's to see)."""
    item = item_get_for(user=request.user, pk=pk)
    metadata = item.client_metadata if isinstance(item.client_metadata, dict) else {}
    listed = sorted(metadata.items())[:PANEL_METADATA_MAX]
    return render(request, "explorer/_panel.html#panel-body", {
        "item": item, "metadata": [(key, _shown(value)) for key, value in listed],
        "more_metadata": max(0, len(metadata) - PANEL_METADATA_MAX), **item_viewer_context(request, item),
        "similar_keys": item_similar_keys(item=item),
    })


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
