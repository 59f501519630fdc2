"""The Explorer page: every item one may see in an organisation or a folder, filtered from a sidebar
built from the schema and/or a written expression, sorted, as a grid of thumbnails or a table.

The page reads its whole state from the query string (``forms.explore_state``), builds ONE filter
tree and calls the selectors the REST search calls (``explore_filter``, ``explore_items``,
``explore_count_answer``): the same compiler, visibility rule and keyset paginator. The count is the
planner's estimate when an exact one is not cheap; the page then loads the exact count, the facets and
the side panel as fragments (``views_panel``). htmx requests get the
results fragment (the sidebar form targets it and pushes the URL; "load more" appends the next page).
With ``similar=<key>&similar_item=<uuid>`` (or ``similar_text=``) the grid is instead the items nearest
to that item or sentence within the same scope and filter (``selectors_similar.explore_similar``, as the
REST search's ``similar_to``), nearest first, with their distances.
A filter the compiler refuses is shown with its message and position, on a 200 page.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import urlencode

from django.db import DataError, transaction
from django.db.models import prefetch_related_objects
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from apps.core.errors import ServiceValidationError, UpstreamServiceError, database_input_refusal
from apps.core.selectors import organisation_admin_ids, organisation_list
from apps.explorer import counting
from apps.explorer.counting import explore_count_answer
from apps.explorer.filters import filter_from_json
from apps.explorer.forms import (
    HOVER_KEYS, SIMILAR_PARAMS, TYPE_CHOICES, ExploreState, canonical_query, column_choices, error_list, explore_state,
    sort_choices,
)
from apps.explorer.selectors import explore_filter, explore_folder, explore_items, sort_from_json
from apps.explorer.selectors_similar import explore_similar
from apps.explorer.views_select import actions_context, selection_scope
from apps.metadata.selectors import schema_for
from apps.similarity import embedders
from apps.storage.models import Item
from apps.storage.selectors import folder_list
from apps.storage.views_items import item_thumbnail_url

POSITION = re.compile(r"At position (\d+):")
PAGE_SIZE = 60  # tiles per "load more" step
SIMILAR_K = 120  # tiles of a "more like this" or sentence search: one page, nearest first
SCOPE_FOLDERS_MAX = 1000  # folders the scope menu lists (the folder pages link any other one here)


def page_organisation(request, requested: str):
    """The organisation the URL names among the user's, else the first they administer, else their first
    (None when they belong to none: the page then says so)."""
    organisations = organisation_list(user=request.user)
    if requested:
        try:
            found = organisations.filter(pk=uuid.UUID(requested)).first()
        except ValueError:
            found = None
        if found is None:
            raise Http404("No such organisation.")
        return found
    return organisations.filter(pk__in=organisation_admin_ids(user=request.user)).first() or organisations.first()


@require_GET
def explore(request):
    organisation = page_organisation(request, request.GET.get("organisation", "")[:64])
    specs = schema_specs(organisation)
    state = explore_state(request.GET, specs)
    folder = explore_folder(user=request.user, organisation=organisation, pk=state.folder) \
        if organisation and state.folder else None
    path = reverse("explorer:explore")
    clear = f"{path}?organisation={organisation.pk}" + (f"&folder={folder.pk}" if folder else "") \
        if organisation else path
    context = {"organisations": organisation_list(user=request.user), "clear_url": clear,
               "scope_folders": _scope_folders(request, organisation, folder) if organisation else []}
    return explore_render(request, organisation=organisation, folder=folder, state=state, specs=specs,
                          path=path, template="explorer/explore.html", context=context)


def explore_render(request, *, organisation, folder, state: ExploreState, specs, path: str, template: str,
                   context: dict):
    """The Explorer at ``path`` (the Explorer page, or a folder page with its folder as the fixed scope):
    the whole page, or for htmx the results (a filter change) or the next rows ("load more"), with the
    short form of the URL pushed to the address bar."""
    results = _results(request, organisation, folder, state) if organisation else {"items": [], "count": 0}
    query = canonical_query(request.GET, after=state.after, recursive_default=state.recursive_default)
    here = f"{path}?{query}" if query else path
    context = {
        **context, "organisation": organisation, "folder": folder, "state": state, "page_path": path,
        "sort_choices": sort_choices(specs), "column_choices": column_choices(specs),
        "columns": [(column, dict(column_choices(specs))[column]) for column in state.columns],
        "type_choices": TYPE_CHOICES, "item_query": urlencode({"from": here}), **results,
    }
    fragment = request.htmx and request.htmx.target in ("load-more", "results")
    if organisation:
        context["selection_scope"] = selection_scope(state=state, folder=folder)
        if not fragment:  # the action dialogs are on the whole page only
            choices = context.get("scope_folders") or _scope_folders(request, organisation, folder)
            context.update(actions_context(user=request.user, organisation=organisation, specs=specs,
                                           scope_folders=choices))
    context.update(_similar_context(request, organisation, specs, state, path))
    first = canonical_query(request.GET, recursive_default=state.recursive_default)
    context["page_query"] = _fragment_query(request, organisation, folder, state)
    context["first_page_url"] = f"{path}?{first}" if first else path
    if results.get("next_token"):
        more = canonical_query(request.GET, after=results["next_token"], recursive_default=state.recursive_default)
        context["more_url"] = f"{path}?{more}"
    if fragment:
        partial = "result-rows" if request.htmx.target == "load-more" else "results"
        response = render(request, f"explorer/explore.html#{partial}", context)
        response["HX-Push-Url"] = here
    else:
        response = render(request, template, context)
    # One URL answers a page and a fragment: without this, Back to a URL "load more" pushed can show the
    # browser's cached fragment as the whole page.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _similar_context(request, organisation, specs, state: ExploreState, path: str) -> dict:
    """What the similarity controls need: the embedding keys ("more like this" on tiles), the keys with a
    text or image embedder (the sentence box, the image upload) and the way back to the normal sort."""
    if organisation is None:
        return {}
    params = request.GET.copy()
    for name in (*SIMILAR_PARAMS, "after"):
        params.pop(name, None)
    back = canonical_query(params, recursive_default=state.recursive_default)
    return {"similar_keys": [spec.name for spec in specs if spec.type == "embedding"],
            "text_keys": [key.name for key in embedders.text_keys(organisation)],
            "image_keys": [key.name for key in embedders.image_keys(organisation)],
            "similar_back_url": f"{path}?{back}" if back else path}


def _fragment_query(request, organisation, folder, state: ExploreState) -> str:
    """The state as the facet, exact-count and saved-view fragments read it (``views_panel.page_search``):
    the organisation, scope folder and subfolder switch always spelled out, since a folder page holds
    them in its path and its own default for ``sub``."""
    params = request.GET.copy()
    for name in ("organisation", "folder", "sub", "after"):
        params.pop(name, None)
    if organisation is not None:
        params["organisation"] = str(organisation.pk)
    if folder is not None:
        params["folder"] = str(folder.pk)
    params["sub"] = "1" if state.recursive else "0"
    return canonical_query(params)


def schema_specs(organisation) -> list:
    """The organisation's declared keys by name: what the sidebar, sort and columns offer."""
    return sorted(schema_for(organisation_id=organisation.pk).keys.values(), key=lambda s: s.name) \
        if organisation else []


def _scope_folders(request, organisation, current) -> list[tuple[str, str]]:
    """(uuid, "top / sub / name") of the folders one may see in the organisation, in tree order."""
    folders = list(folder_list(user=request.user).filter(organisation=organisation)[:SCOPE_FOLDERS_MAX])
    if current is not None and all(f.pk != current.pk for f in folders):
        folders.append(current)
    names = {f.pk: f.name for f in folders}
    labels = [(str(f.pk), " / ".join([*(names.get(pk, "…") for pk in f.path or []), f.name])) for f in folders]
    return sorted(labels, key=lambda pair: pair[1].lower())


def _results(request, organisation, folder, state: ExploreState) -> dict:
    """One page of matching items and their count, or the errors that stopped the search."""
    if state.errors:
        return {"items": [], "count": None, "errors": state.errors}
    scope = {"user": request.user, "organisation": organisation, "scope_folder": folder,
             "recursive": state.recursive}
    try:
        with transaction.atomic():  # a refused cast must not break the rest of the request
            tree = explore_filter(tree=filter_from_json(state.tree_json) if state.tree_json else None, q=state.q)
            if state.similar:
                return _similar_results(request, organisation, scope, tree, state)
            page = explore_items(**scope, tree=tree, sort=sort_from_json(state.sort_json()), page_size=PAGE_SIZE,
                                 page_token=state.after or None)
            # The estimate at once when an exact count is not cheap; the page then loads the exact one.
            count = explore_count_answer(**scope, tree=tree, exact_below=counting.EXACT_COUNT_BELOW)
    except (ServiceValidationError, UpstreamServiceError) as exc:  # an embedding endpoint's failure is shown too
        errors = error_list(exc)
        return {"items": [], "count": None, "errors": errors, "q_mark": _mark(state.q, errors)}
    except DataError as exc:
        reason = database_input_refusal(exc)
        if reason is None:
            raise
        return {"items": [], "count": None, "errors": {"filter": [f"Refused by the database: {reason}."]}}
    prefetch_related_objects(page.rows, "integration")  # item_thumbnail_url reads it: one query, not one per tile
    for item in page.rows:
        _decorate(item, state)
    return {"items": page.rows, "count": count.count, "count_exact": count.exact, "count_about": about(count.count),
            "next_token": page.next_token or "", "errors": {}}


def _similar_results(request, organisation, scope: dict, tree, state: ExploreState) -> dict:
    """The ``SIMILAR_K`` matching items nearest to the state's item or sentence, nearest first, each
    with its distance: one page (no "load more"; the REST search's ``similar_to`` with the same reader)."""
    try:
        query, answer = explore_similar(**scope, tree=tree, similar_to=state.similar_json(), k=SIMILAR_K,
                                        place="similar")
    except Http404:
        raise ServiceValidationError({"similar_item": "No such item, or not one you may see."}) from None
    rows = [hit.item for hit in answer.hits]
    prefetch_related_objects(rows, "integration")
    for hit in answer.hits:
        hit.item.distance = hit.distance
        _decorate(hit.item, state)
    source = Item.objects.filter(pk=query.source_item).only("name").first() if query.source_item else None
    return {"items": rows, "count": len(rows), "count_exact": True, "count_about": about(len(rows)),
            "next_token": "", "errors": {},
            "similar": {"key": query.key.name, "source": source, "frame": query.frame, "text": state.similar_text}}


def about(count: int) -> str:
    """An estimate as a person reads it: "about 1.2M", "about 12k", "about 340"."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if count >= size:
            shown = f"{count / size:.1f}".removesuffix(".0") if count < 10 * size else f"{count // size}"
            return f"about {shown}{suffix}"
    return f"about {count}"


def _mark(q: str, errors: dict) -> tuple[str, str, str] | None:
    """The expression split around the position its first error names: (before, at, after)."""
    found = next((POSITION.match(m) for place, ms in errors.items() for m in ms if place.startswith(("q", "filter"))
                  and POSITION.match(m)), None)
    if found is None or int(found.group(1)) > len(q):
        return None
    at = int(found.group(1))
    return q[:at], q[at:at + 1] or " ", q[at + 1:]


def _decorate(item, state: ExploreState) -> None:
    """What a tile and a table row show: the picture, the hover title and the chosen columns' cells."""
    item.thumb_url = item_thumbnail_url(item)
    metadata = item.client_metadata if isinstance(item.client_metadata, dict) else {}
    shown = [f"{key}: {_text(value)}" for key, value in list(metadata.items())[:HOVER_KEYS]]
    item.hover = "\n".join([item.display_name, *shown])
    item.cells = [(column, _cell(item, metadata, column)) for column in state.columns]
    # The chosen columns are also the tiles' captions (the name is the tile's title already).
    item.captions = [(column.partition(":")[2], cell) for column, cell in item.cells if cell and column != "field:name"]


def _cell(item, metadata: dict, column: str) -> str:
    target, _, name = column.partition(":")
    if target == "key":
        return _text(metadata[name]) if name in metadata else ""
    value = {"type": item.item_type, "folder": item.folder.name if item.folder_id else "",
             "name": item.display_name, "created": item.created_at.strftime("%Y-%m-%d %H:%M")}.get(name, getattr(item, name, None))
    return "" if value is None else str(value)


def _text(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
