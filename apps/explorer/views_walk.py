"""Previous/next on the item page through the result the item was opened from.

A tile's link carries ``?from=<the results page's URL>`` (the Explorer's or a folder page's, with its
filter, sort and page). The item page asks (through ``apps.storage.hooks.item_page_neighbours``) for the
item before and after this one in that result: the same state parser, filter compiler and sort as the
page itself, and ``selectors.explore_neighbours`` (keyset: the first item past this one in the sort, and
in the reversed sort), so the walk is the order the grid showed, at any depth of the result.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from django.db import DataError, transaction
from django.http import Http404, QueryDict
from django.urls import Resolver404, resolve

from apps.core.errors import ServiceValidationError, database_input_refusal
from apps.explorer.filters import filter_from_json
from apps.explorer.forms import explore_state
from apps.explorer.selectors import explore_filter, explore_folder, explore_neighbours, sort_from_json
from apps.explorer.views import SIMILAR_K, schema_specs
from apps.explorer.selectors_similar import explore_similar

ORIGIN_MAX = 60_000  # characters of ``from``: a page token and an expression fit
RESULT_PAGES = {"explorer:explore": True, "folders:folder": False}  # page -> includes subfolders by default


def item_page_neighbours(request, item) -> dict:
    """``{"walk": {"previous", "next", "back"}}`` (item page URLs carrying the same ``from``, and the
    results page itself) when the request names a result that holds ``item``; ``{}`` otherwise."""
    origin = request.GET.get("from", "")
    found = _origin(origin) if origin and len(origin) <= ORIGIN_MAX else None
    if found is None:
        return {}
    view_name, params, folder_pk = found
    organisation = item.organisation
    if params.get("organisation", str(organisation.pk)) != str(organisation.pk):
        return {}
    specs = schema_specs(organisation)
    state = explore_state(params, specs, recursive_default=RESULT_PAGES[view_name])
    folder_pk = folder_pk or state.folder
    if state.errors and not (folder_pk and set(state.errors) == {"folder"}):
        return {}
    try:
        folder = explore_folder(user=request.user, organisation=organisation, pk=folder_pk) if folder_pk else None
        with transaction.atomic():  # a refused cast must not break the rest of the request
            tree = explore_filter(tree=filter_from_json(state.tree_json) if state.tree_json else None, q=state.q)
            found = _similar_neighbours(request, organisation, folder, state, tree, item) if state.similar else \
                explore_neighbours(user=request.user, organisation=organisation, item_pk=item.pk,
                                       scope_folder=folder, recursive=state.recursive, tree=tree,
                                       sort=sort_from_json(state.sort_json()))
    except (Http404, ServiceValidationError):
        return {}
    except DataError as exc:
        if database_input_refusal(exc) is None:
            raise
        return {}
    if found is None:
        return {}
    previous, following = found
    carried = urlencode({"from": origin})
    return {"walk": {
        "previous": f"{previous.get_absolute_url()}?{carried}" if previous else "",
        "next": f"{following.get_absolute_url()}?{carried}" if following else "",
        "back": origin,
        "back_label": "back to the folder" if view_name == "folders:folder" else "back to the Explorer",
    }}


def _similar_neighbours(request, organisation, folder, state, tree, item):
    """(previous, next) of ``item`` in the "more like this" / sentence result the page showed, nearest
    first; None when it is not among them (the source item itself is not)."""
    _query, answer = explore_similar(user=request.user, organisation=organisation, scope_folder=folder,
                                     recursive=state.recursive, tree=tree, similar_to=state.similar_json(),
                                     k=SIMILAR_K, place="similar")
    rows = [hit.item for hit in answer.hits]
    at = next((i for i, row in enumerate(rows) if row.pk == item.pk), None)
    if at is None:
        return None
    return (rows[at - 1] if at else None), (rows[at + 1] if at + 1 < len(rows) else None)


def _origin(origin: str):
    """(view name, query, folder pk from the path or None) of a results page of this site; None for
    anything else (another host, another page), so the back link can only lead to a results page."""
    parts = urlsplit(origin)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    try:
        match = resolve(parts.path)
    except Resolver404:
        return None
    if match.view_name not in RESULT_PAGES:
        return None
    return match.view_name, QueryDict(parts.query), match.kwargs.get("pk")
