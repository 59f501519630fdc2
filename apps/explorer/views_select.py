"""What the Explorer page's selection bar and action dialogs need: the page's selection as a filter,
the keys the bulk-edit form offers, and the folders the items may be moved to.

The actions themselves go to the REST doors (``apps.explorer.api.selection``: bulk-edit, move, trash,
export) with the page's session and CSRF token, so the page and scripts share one behaviour. "All N
matching" is sent as ``selection_scope`` — the scope, sidebar filter tree and written expression the
server read from this page's URL — never as a list of ids.
"""

from __future__ import annotations

from apps.explorer.forms import ExploreState
from apps.metadata.validation import KeySpec
from apps.storage.models import FolderRole
from apps.storage.selectors import folder_list

EDITABLE_TYPES = ("number", "boolean", "enum", "datetime", "varchar", "text", "uuid", "geospatial")


def selection_scope(*, state: ExploreState, folder) -> dict:
    """The selection body meaning "everything this page matches" (``apps.explorer.selection``'s shape)."""
    return {"scope": {"folder": str(folder.pk) if folder else None, "recursive": state.recursive},
            "filter": state.tree_json, "q": state.q or None}


def actions_context(*, user, organisation, specs: list[KeySpec], scope_folders: list[tuple[str, str]]) -> dict:
    """The bulk-edit keys (typed inputs per schema type; embeddings are not edited by hand) and the move
    destinations: the scope menu's folders (same labels, same cap) where ``user`` is an editor."""
    editable = {str(pk) for pk in folder_list(user=user, role=FolderRole.EDITOR)
                .filter(organisation=organisation, pk__in=[pk for pk, _ in scope_folders])
                .values_list("pk", flat=True)}
    return {"edit_specs": [spec for spec in specs if spec.type in EDITABLE_TYPES],
            "key_names": [spec.name for spec in specs],
            "destination_folders": [(pk, label) for pk, label in scope_folders if pk in editable]}
