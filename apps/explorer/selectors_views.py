"""Reads of saved views: which views a user sees, and a view's state checked for the user who opens it.

A view's state is checked by the foundation's own pieces (``filters.filter_from_json``, the written
expression parser, ``compiler.compile_filter``/``sort_value``, ``selectors.explore_folder``), so a saved
view can only hold what ``POST /api/v1/explore/search`` would accept, and opening one answers what the
search would answer for the opener: their permissions, the schema as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.core.errors import ServiceValidationError
from apps.core.selectors import organisation_admin_ids, organisation_memberships
from apps.explorer.compiler import compile_filter, compile_leaf, sort_value
from apps.explorer.filters import Leaf, Node, builtin, filter_from_json, refuse
from apps.explorer.models import SavedView, ViewLayout
from apps.explorer.selectors import explore_filter, explore_folder, sort_from_json
from apps.metadata.models import KeyState
from apps.metadata.selectors import schema_for, schema_key_get
from apps.metadata.validation import Schema, key_name_error
from apps.storage.models import Folder

COLUMNS_MAX = 50  # table columns of one view: more than a screen shows
SEARCH_URL = "/api/v1/explore/search"


@dataclass(frozen=True)
class ViewState:
    """A checked state, ready to store: the JSON values as the search body takes them."""

    scope_folder: Folder | None
    recursive: bool
    filter: Any
    q: str | None
    sort: list | None
    layout: str
    columns: list


def saved_view_list(*, user, organisation=None) -> QuerySet[SavedView]:
    """The views ``user`` sees, by name: their own and those shared in the organisations they belong to
    now (a removed member sees none of that organisation's views, their own included)."""
    member_of = organisation_memberships(user=user).values("organisation_id")
    views = (SavedView.objects.filter(organisation_id__in=member_of)
             .filter(Q(owner_id=getattr(user, "pk", None)) | Q(shared=True))
             .select_related("owner", "organisation"))
    if organisation is not None:
        views = views.filter(organisation_id=organisation.pk)
    return views.order_by("name", "uuid")


def saved_view_get(*, user, pk) -> SavedView:
    """One view ``user`` sees; a 404 for unknown and for another member's private view alike."""
    view = saved_view_list(user=user).filter(pk=pk).first()
    if view is None:
        raise Http404("No such saved view.")
    return view


def saved_view_can_change(*, user, view: SavedView) -> bool:
    """Only the owner renames, re-shares or changes a view."""
    return view.owner_id == getattr(user, "pk", None)


def saved_view_can_delete(*, user, view: SavedView, admin_of: set | None = None) -> bool:
    """The owner deletes their view; an organisation admin also deletes the organisation's shared ones.
    ``admin_of`` (``organisation_admin_ids``) saves a query per view in a list."""
    if saved_view_can_change(user=user, view=view):
        return True
    admin_of = organisation_admin_ids(user=user) if admin_of is None else admin_of
    return view.shared and view.organisation_id in admin_of


# --------------------------------------------------------------------------- checking a state


def view_state_check(*, user, organisation, folder_pk=None, recursive: bool = True, filter=None, q=None,
                     sort=None, layout: str = ViewLayout.GRID, columns=()) -> ViewState:
    """The state checked as the search would check it, for ``user`` in ``organisation``, and normalised
    (sort keys spelled out). Raises ``ServiceValidationError`` keyed where the search keys it
    (``scope.folder``, ``filter.and[1]``, ``q``, ``sort[0]``) or ``view.layout``/``view.columns[i]``."""
    schema = schema_for(organisation_id=organisation.pk)
    folder = _scope_folder(user=user, organisation=organisation, pk=folder_pk) if folder_pk is not None else None
    if not isinstance(recursive, bool):
        refuse("scope.recursive", "true or false.")
    if q is not None and not isinstance(q, str):
        refuse("q", "A written expression is a string.")
    tree = explore_filter(tree=filter_from_json(filter) if filter is not None else None, q=q)
    compile_filter(tree, schema)
    keys = sort_from_json(sort) if sort is not None else None
    for index, key in enumerate(keys or ()):
        sort_value(target=key.target, name=key.name, schema=schema, path=f"sort[{index}]")
    if layout not in ViewLayout.values:
        refuse("view.layout", f"One of {', '.join(ViewLayout.values)}.")
    return ViewState(
        scope_folder=folder, recursive=recursive, filter=filter, q=q if q is not None and q.strip() else None,
        sort=None if keys is None else [{key.target: key.name, "desc": key.desc} for key in keys],
        layout=layout, columns=_columns_checked(columns),
    )


def _scope_folder(*, user, organisation, pk) -> Folder:
    try:
        return explore_folder(user=user, organisation=organisation, pk=pk)
    except Http404:
        refuse("scope.folder", "No such folder: the scope is a live folder of the organisation that you may see, "
                               "or null for the whole organisation.")


def _columns_checked(columns) -> list:
    if not isinstance(columns, list | tuple) or len(columns) > COLUMNS_MAX:
        refuse("view.columns", f'A list of at most {COLUMNS_MAX} columns, each {{"key": <metadata key>}} '
                               'or {"field": <built-in>}.')
    checked = []
    for index, column in enumerate(columns):
        where = f"view.columns[{index}]"
        if not isinstance(column, dict) or len(column) != 1 or not set(column) <= {"key", "field"}:
            refuse(where, 'A column is {"key": <metadata key>} or {"field": <built-in>}.')
        (target, name), = column.items()
        if target == "field" and builtin(name) is None:
            refuse(where, f"Unknown built-in field {str(name)[:60]!r}.")
        if target == "key" and key_name_error(name):
            refuse(where, f"Not a metadata key name: {key_name_error(name)}")
        if {target: name} in checked:
            refuse(where, "This column is already in the view.")
        checked.append({target: name})
    return checked


# --------------------------------------------------------------------------- opening a view


def saved_view_search(*, user, view: SavedView) -> dict:
    """The view's search body for ``user`` (what ``POST /api/v1/explore/search`` takes), checked again
    now: the schema or the opener's access may have changed since it was saved.

    Raises ``ServiceValidationError`` keyed by the place that no longer holds: a leaf whose key was
    deleted or re-typed says so (``filter.and[0]``, ``q``, ``sort[0]``), a folder the opener cannot see
    (or that went to the trash) is ``scope.folder``.
    """
    schema = schema_for(organisation_id=view.organisation_id)
    if view.scope_folder_id is not None:
        try:
            explore_folder(user=user, organisation=view.organisation, pk=view.scope_folder_id)
        except Http404:
            refuse("scope.folder", "This view's folder is in the trash or is not one you may see: open it in "
                                   "a scope you have, or ask the owner to share the folder with you.")
    tree = explore_filter(tree=filter_from_json(view.filter) if view.filter is not None else None, q=view.q)
    _leaves_still_apply(tree, schema, view)
    for index, key in enumerate(sort_from_json(view.sort) if view.sort is not None else ()):
        try:
            sort_value(target=key.target, name=key.name, schema=schema, path=f"sort[{index}]")
        except ServiceValidationError as exc:
            _refuse_stale(exc, view, key.name if key.target == "key" else None)
    return saved_view_search_body(view)


def saved_view_search_body(view: SavedView) -> dict:
    """The view's state as a search body (unchecked: ``saved_view_search`` checks it for an opener)."""
    return {
        "scope": {"folder": str(view.scope_folder_id) if view.scope_folder_id else None, "recursive": view.recursive},
        "filter": view.filter, "q": view.q, "sort": view.sort,
    }


def saved_view_search_url(view: SavedView) -> str:
    """Where the search body goes: the organisation named, so a member of several needs nothing more."""
    return f"{SEARCH_URL}?organisation={view.organisation_id}"


def _leaves_still_apply(tree: Node | None, schema: Schema, view: SavedView) -> None:
    """Compile leaf by leaf, in the order ``compile_filter`` does, so the first refusal names its leaf."""
    for leaf in _leaves(tree):
        try:
            compile_leaf(leaf, schema)
        except ServiceValidationError as exc:
            _refuse_stale(exc, view, leaf.name if leaf.target == "key" else None)


def _leaves(node: Node | None):
    if node is None:
        return
    if isinstance(node, Leaf):
        yield node
    elif hasattr(node, "child"):
        yield from _leaves(node.child)
    else:
        for child in node.children:
            yield from _leaves(child)


def _refuse_stale(exc: ServiceValidationError, view: SavedView, key_name: str | None):
    """The refusal of a state that was valid when saved, saying what changed and what to do."""
    (place, messages), = exc.message_dict.items()
    key = schema_key_get(organisation=view.organisation, name=key_name) if key_name else None
    if key is not None and key.state == KeyState.DELETED:
        cause = f'The key "{key_name}" was deleted from the schema (an admin may restore it) after this view was saved'
    elif key is not None and key.state == KeyState.TOMBSTONE:
        cause = f'The key "{key_name}" was deleted from the schema after this view was saved'
    else:
        cause = "The schema changed after this view was saved"
    raise ServiceValidationError({place: f"{cause}, so this no longer applies: {messages[0]} "
                                         "Change the view (PATCH it with a new filter or sort) or save a new one."})
