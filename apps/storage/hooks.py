"""Where storage calls the apps above it without importing them.

Dependencies point one way (core <- storage <- metadata <- imports <- the doors). Some storage code
needs something only an upper app knows: an item's metadata as its writer sees it (embedding values
live in metadata's vector table), the metadata card of the item page, the entry counts of an import
file. It calls the hook here; the upper app sets it in its ``AppConfig.ready`` with ``hook_set``.
Each default is what storage alone would answer, so storage works (and tests) without them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def _stored_metadata(items: Iterable) -> dict:
    return {item.pk: item.client_metadata for item in items}


def _no_metadata_context(request, item, *, can_edit: bool) -> dict:
    return {}


def _no_neighbours(request, item) -> dict:
    return {}


def _no_similar(request, item) -> dict:
    return {}

def _nothing_after_probe(item_ids: list) -> None:
    return None


def _no_entry_counts(handle) -> dict[str, int]:
    raise ValueError("no import file parser is installed")


def _drop_frame_hashes(item, hashes: dict[int, int]) -> None:
    return None


_DEFAULTS: dict[str, Callable[..., Any]] = {
    "video_frame_hashes_store": _drop_frame_hashes,
    "items_full_metadata": _stored_metadata,
    "item_page_metadata_context": _no_metadata_context,
    "import_file_entry_counts": _no_entry_counts,
    "item_page_neighbours": _no_neighbours,
    "item_page_similar": _no_similar,

    "items_probed": _nothing_after_probe,
}
_registered: dict[str, Callable[..., Any]] = {}


def hook_set(name: str, function: Callable[..., Any]) -> None:
    """Install ``function`` as the hook ``name`` (one of the names above; a typo raises KeyError)."""
    if name not in _DEFAULTS:
        raise KeyError(f"storage has no hook named {name!r}")
    _registered[name] = function


def _hook(name: str) -> Callable[..., Any]:
    return _registered.get(name, _DEFAULTS[name])


def items_full_metadata(items: Iterable) -> dict:
    """item pk -> its metadata as written (embedding values included), for a page of items."""
    return _hook("items_full_metadata")(list(items))


def item_page_metadata_context(request, item, *, can_edit: bool) -> dict:
    """The template context of the item page's metadata card (history, frames); {} without one."""
    return _hook("item_page_metadata_context")(request, item, can_edit=can_edit)


def import_file_entry_counts(handle) -> dict[str, int]:
    """Entries per data key, in file order, of a stored import file opened in binary mode.

    Raises ValueError when the file is not a registration file.
    """
    return _hook("import_file_entry_counts")(handle)


def item_page_neighbours(request, item) -> dict:
    """The item page's previous/next through the result it was opened from (``?from=``): ``{"walk":
    {"previous", "next", "back", "back_label"}}``, or {} when the request names no such result."""
    return _hook("item_page_neighbours")(request, item)


def item_page_similar(request, item) -> dict:
    """The item page's "more like this" form: ``{"similar": {"action", "keys", "hidden"}}``, or {} when
    the item has no vector to start from."""
    return _hook("item_page_similar")(request, item)

def items_probed(item_ids: list) -> None:
    """Single-file items whose probe just committed as ``ready`` (one call per probe task): the apps
    above derive what they need from the content (the built-in text embedding), in their own tasks."""
    if item_ids:
        _hook("items_probed")(list(item_ids))

def video_frame_hashes_store(item, hashes: dict[int, int]) -> None:
    """Keep the perceptual hashes of a video's strip frames (frame number -> pHash), replacing any the
    item had; called inside the probe's transaction. Storage alone keeps none."""
    _hook("video_frame_hashes_store")(item, hashes)
