"""The metadata part of the item page: typed form (merge), raw JSON (replace), history and revert,
and a video's frame entries.

The views parse forms and call the same update services as the REST API. A refused write comes back
as the form fragment with its errors (status 400, which htmx swaps in place); a saved one reloads the
page (``HX-Redirect``), so the form, the JSON and the history all show the new state.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceValidationError
from apps.core.pages import htmx_redirect
from apps.core.pagination import PageTokenError, keyset_page
from apps.metadata.api.items import item_frame_entries
from apps.metadata.forms_items import MISSING, ItemMetadataForm, MetadataJsonForm, metadata_pretty, value_shown
from apps.metadata.records import MetadataChange
from apps.metadata.selectors import schema_for
from apps.metadata.services.derived import metadata_with_vectors
from apps.metadata.services.updates import item_metadata_merge, item_metadata_replace, metadata_change_revert
from apps.storage.models import FolderRole, Item, ItemType
from apps.storage.permissions import folder_role
from apps.storage.selectors_items import item_get_for

HISTORY_PAGE = 25  # changes per page of the History tab
FRAME_ENTRIES_SHOWN = 1000  # a long video sampled once a second lists this many entries at most
KEY_FRAME_TITLE_MAX = 300  # characters of a key frame's metadata in its hover text (a click shows it all)


def _full(item: Item) -> dict:
    return metadata_with_vectors([item])[item.pk]


def _forms(item: Item, metadata: dict, data=None, json_data=None):
    schema = schema_for(organisation_id=item.organisation_id)
    typed = ItemMetadataForm(data, schema=schema, metadata=metadata)
    raw = MetadataJsonForm(json_data, initial={"metadata": metadata_pretty(metadata)})
    return typed, raw


def item_metadata_context(request, item: Item, *, can_edit: bool) -> dict:
    """What ``templates/metadata/_item_metadata.html`` needs on the item page."""
    metadata = _full(item)
    typed, raw = _forms(item, metadata)
    return {
        "metadata_json": metadata_pretty(metadata),
        "metadata_form": typed,
        "metadata_json_form": raw,
        "metadata_tab": request.GET.get("tab", "fields"),
        **_history_context(item, can_edit=can_edit),
        **(_frame_entries_context(item, metadata) if item.item_type == ItemType.VIDEO else {}),
    }


def _fragment(request, item: Item, partial: str, context: dict, *, status: int = 400):
    return render(request, f"metadata/_item_metadata.html#{partial}", {"item": item, **context}, status=status)


def _page(item: Item, tab: str) -> str:
    # No "#fragment": htmx's HX-Redirect to the same page plus a fragment would only scroll, not reload.
    return item.get_absolute_url() + (f"?tab={tab}" if tab != "fields" else "")


def _saved(request, item: Item, change: MetadataChange | None, *, tab: str):
    if change is None:
        messages.info(request, "Nothing changed.")
    else:
        keys = ", ".join(change.keys) or "no key"
        messages.success(request, f"Metadata saved ({change.action}: {keys}).")
    return htmx_redirect(request, _page(item, tab))


def _refused(request, item: Item, partial: str, form_name: str, form, *, tab: str):
    if request.htmx:
        return _fragment(request, item, partial, {form_name: form})
    messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return htmx_redirect(request, _page(item, tab))


@require_POST
def item_metadata_merge_view(request, pk):
    """The typed form: a merge of the keys the user changed (cleared fields remove their key)."""
    item = item_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    form, _ = _forms(item, _full(item), data=request.POST)
    if form.is_valid():
        patch = form.patch()
        if not patch:
            return _saved(request, item, None, tab="fields")
        try:
            change = item_metadata_merge(user=request.user, item=item, patch=patch)
            return _saved(request, item, change, tab="fields")
        except ServiceValidationError as exc:
            form.add_service_errors(exc)
    return _refused(request, item, "fields-form", "metadata_form", form, tab="fields")


@require_POST
def item_metadata_replace_view(request, pk):
    """The raw JSON editor: the metadata becomes exactly the given object."""
    item = item_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    _, form = _forms(item, _full(item), json_data=request.POST)
    if form.is_valid():
        try:
            metadata = form.cleaned_data["metadata"]
            change = item_metadata_replace(user=request.user, item=item, metadata=metadata)
            return _saved(request, item, change, tab="json")
        except ServiceValidationError as exc:
            form.add_service_errors(exc)
    return _refused(request, item, "json-form", "metadata_json_form", form, tab="json")


@require_GET
def item_metadata_history(request, pk):
    """A further page of the History tab (an htmx fragment), older than ``?before=<page token>``."""
    item = item_get_for(user=request.user, pk=pk)
    role = folder_role(user=request.user, folder=item.folder)
    can_edit = FolderRole.rank(role) >= FolderRole.rank(FolderRole.EDITOR)
    context = _history_context(item, can_edit=can_edit, before=request.GET.get("before", ""))
    return render(request, "metadata/_history.html#history-rows", {"item": item, **context})


@require_POST
def item_metadata_revert(request, pk, change_pk):
    """Put the metadata back to what it was before one change; the page then shows the new state."""
    item = item_get_for(user=request.user, pk=pk, role=FolderRole.EDITOR)
    change = get_object_or_404(MetadataChange, pk=change_pk, item=item)
    try:
        metadata_change_revert(user=request.user, change=change)
        messages.success(request, f"Reverted the change of {change.at:%Y-%m-%d %H:%M:%S} UTC.")
    except ServiceValidationError as exc:
        messages.error(request, " ".join(m for msgs in exc.message_dict.values() for m in msgs))
    return htmx_redirect(request, _page(item, "history"))


# --------------------------------------------------------------------------- history and frames


def _history_context(item: Item, *, can_edit: bool, before: str = "") -> dict:
    changes = MetadataChange.objects.filter(item=item).select_related("user")
    try:
        history = keyset_page(changes, ordering=("-at", "-pk"), page_size=HISTORY_PAGE, token=before or None)
    except PageTokenError:  # a stale or tampered link: the newest changes
        before, history = "", keyset_page(changes, ordering=("-at", "-pk"), page_size=HISTORY_PAGE)
    page = history.rows
    return {
        "history": [_history_row(change) for change in page],
        "history_more": reverse("metadata:item-history", args=[item.pk]) + "?" + urlencode(
            {"before": history.next_token}) if history.next_token else "",
        "history_count": MetadataChange.objects.filter(item=item).count() if not before else None,
        "can_revert": can_edit,
    }


def _history_row(change: MetadataChange) -> dict:
    before, after = change.before or {}, change.after or {}
    return {
        "change": change,
        "email": change.user.email if change.user else "deleted user",
        "diffs": [(key, value_shown(before.get(key, MISSING)), value_shown(after.get(key, MISSING)))
                  for key in change.keys],
    }


def _frame_entries_context(item: Item, metadata: dict) -> dict:
    entries = item_frame_entries(item, metadata=metadata)
    thumbs = {f.get("frame"): i for i, f in enumerate(item.preview_frames or []) if isinstance(f, dict)}
    shown, key_metadata = entries["frames"][:FRAME_ENTRIES_SHOWN], {}
    for entry in shown:
        index = thumbs.get(entry["frame"])  # the viewer's strip has a picture of this very frame
        entry["thumb"] = reverse("storage:item-frame", args=[item.pk, index]) if index is not None else ""
        if entry["key_frame"]:
            key_metadata[str(entry["frame"])] = metadata_pretty(entry["metadata"])
            own = json.dumps(entry["metadata"], ensure_ascii=False)
            entry["title"] = f"Key frame {entry['frame']}: {own[:KEY_FRAME_TITLE_MAX]}"
    return {"frame_entries": shown, "frame_entries_total": len(entries["frames"]),
            "frame_entries_config": entries, "frame_key_metadata": key_metadata}
