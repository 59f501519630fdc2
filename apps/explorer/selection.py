"""A selection: the items an Explorer action applies to, as a value other features take.

Two shapes, both plain JSON members of an action's body:

* ``{"scope": {...}, "filter": <tree> | null, "q": "..."}`` — "all N matching": kept as the filter and
  resolved on the server when the action runs (never a list of ids in the browser);
* ``{"items": ["<uuid>", ...]}`` — an explicit pick (clicks, shift-click ranges, a page).

``selection_queryset`` is the one way to turn a selection into items: ``explore_queryset`` (the one
scope, permission rule and compiler), narrowed to an explicit list when given. For a write
(``role`` editor) it refuses, rather than silently narrows, a selection holding items the caller may
only read: an action applies to everything the user selected or to nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from apps.core.errors import ServiceValidationError
from apps.explorer.filters import Node, filter_from_json
from apps.explorer.selectors import explore_filter, explore_folder, explore_queryset
from apps.storage.models import FolderRole, Item
from apps.storage.permissions import folder_require, visible_q

SELECTION_MEMBERS = ("scope", "filter", "q", "items")
ITEMS_MAX = 100_000  # uuids in one explicit selection (3.7 MB of JSON); larger sets are a filter


@dataclass(frozen=True)
class Selection:
    """Either a filtered scope (``items`` None) or an explicit list of item uuids (``items``)."""

    folder: uuid.UUID | None = None
    recursive: bool = True
    tree: Node | None = None
    items: tuple[uuid.UUID, ...] | None = None


def selection_from_json(data: dict) -> Selection:
    """The selection members of an action's body (other members are the caller's to read).

    Refusals are ``ServiceValidationError`` keyed by the member (``items``, ``items[3]``, ``scope.folder``,
    ``filter.and[1]``, ``q``): the search door's own rules for scope, filter and expression.
    """
    if not isinstance(data, dict):
        raise ServiceValidationError({"detail": "The body is a JSON object."})
    if "items" not in data:
        folder, recursive = scope_from_json(data.get("scope"))
        q, raw_filter = data.get("q"), data.get("filter")
        if q is not None and not isinstance(q, str):
            raise ServiceValidationError({"q": "A written expression is a string."})
        tree = explore_filter(tree=filter_from_json(raw_filter) if raw_filter is not None else None, q=q)
        return Selection(folder=folder, recursive=recursive, tree=tree)
    if any(key in data for key in ("scope", "filter", "q")):
        raise ServiceValidationError({"items": 'Select with "items" or with "scope"/"filter"/"q", not both.'})
    raw = data["items"]
    if not isinstance(raw, list) or not raw or len(raw) > ITEMS_MAX:
        raise ServiceValidationError({"items": f"A list of 1 to {ITEMS_MAX:,} item uuids."})
    items = []
    for index, value in enumerate(raw):
        try:
            items.append(uuid.UUID(value) if isinstance(value, str) and len(value) <= 64 else None)
        except ValueError:
            items.append(None)
        if items[-1] is None:
            raise ServiceValidationError({f"items[{index}]": "An item uuid."})
    if len(set(items)) != len(items):
        raise ServiceValidationError({"items": "An item appears twice."})
    return Selection(items=tuple(items))


def scope_from_json(scope) -> tuple[uuid.UUID | None, bool]:
    """``{"folder": <uuid> | null, "recursive": true}`` (default: the whole organisation, recursive) as
    every Explorer door reads it: search, facets, count, saved views and selections."""
    scope = scope or {}
    if not isinstance(scope, dict) or set(scope) - {"folder", "recursive"}:
        raise ServiceValidationError({"scope": 'An object {"folder": <uuid> | null, "recursive": true | false}.'})
    folder = scope.get("folder")
    if folder is not None:
        try:
            folder = uuid.UUID(folder) if isinstance(folder, str) and len(folder) <= 64 else None
        except ValueError:
            folder = None
        if folder is None:
            raise ServiceValidationError({"scope.folder": "A folder uuid, or null for the whole organisation."})
    recursive = scope.get("recursive", True)
    if not isinstance(recursive, bool):
        raise ServiceValidationError({"scope.recursive": "true or false."})
    return folder, recursive


def selection_queryset(*, user, organisation, selection: Selection, role: str = FolderRole.VIEWER) -> QuerySet[Item]:
    """The live top-level items of ``selection`` that ``user`` may see (``role`` viewer), or may change
    (``role`` editor: then every selected item must be changeable).

    404 for a scope folder or a listed item the user cannot see (its existence is not revealed); 403
    when the user sees a scope folder or a selected item without holding ``role`` on its folder.
    """
    folder = explore_folder(user=user, organisation=organisation, pk=selection.folder) if selection.folder else None
    if folder is not None and role != FolderRole.VIEWER:
        folder_require(user=user, folder=folder, role=role)
    visible = explore_queryset(user=user, organisation=organisation, scope_folder=folder,
                               recursive=selection.recursive, tree=selection.tree)
    if selection.items is not None:
        visible = visible.filter(pk__in=selection.items)
        found = set(visible.values_list("pk", flat=True))
        if len(found) != len(selection.items):
            missing = [str(pk) for pk in selection.items if pk not in found]
            raise Http404(f"No such item: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
    if role == FolderRole.VIEWER:
        return visible
    allowed = visible_q(user, organisation="folder__organisation_id", root="folder__root_id", role=role)
    # One probe, not two counts: any selected item the user may only read refuses the whole action.
    if visible.exclude(allowed).exists():
        raise PermissionDenied(f"This needs the {role} role on the folders of every selected item; some are "
                               "in folders you may only view. Narrow the scope or the selection.")
    return visible.filter(allowed)
