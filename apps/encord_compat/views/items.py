"""Item routes: list and search, get (one or bulk), update (one or bundled), children, move, delete.

Metadata writes go through ``items_metadata_write`` (validation against the schema, history, vectors
to pgvector): an SDK ``item.update(client_metadata=...)`` **replaces** the metadata, as on Encord.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework import exceptions
from rest_framework.response import Response

from apps.encord_compat.base import (
    BUNDLE_MAX, EncordView, as_uuid, base_url, body_get, body_object, bundle_patches, param, param_bool, param_int,
    param_list, path_uuid, require_in_folder,
)
from apps.core.errors import ServiceValidationError
from apps.encord_compat.paging import MAX_PAGE_SIZE, sort_field
from apps.encord_compat.views.folders import folder_for
from apps.encord_compat.wire import WIRE_DEFERRED, item_type_loupe, item_wire, items_wire
from apps.explorer.selectors import SortKey, explore_items, listing_filter
from apps.metadata.services.updates import MetadataWrite, item_metadata_replace, items_metadata_write
from apps.storage.models import Folder, FolderRole, Item
from apps.storage.selectors_items import item_children, item_get_for, items_get_for
from apps.storage.services import items as item_services


def _item_types(request) -> list[str]:
    types = []
    for wire_type in param_list(request, "itemTypes"):
        loupe_type = item_type_loupe(wire_type)
        if loupe_type is None:
            raise exceptions.ValidationError({"itemTypes": f"unknown item type {wire_type!r}"})
        types.append(loupe_type)
    return types


def items_page(request, *, folder: Folder | None, recursive: bool = False) -> Response:
    """A page of items with the SDK's listing parameters, through the Explorer's one query: the top-level
    items of ``folder`` (and its subfolders when ``recursive``), or of every folder one may see (None)."""
    if param_bool(request, "isInDataset", default=None):
        return Response({"results": [], "nextPageToken": None})  # no item is linked to a dataset yet
    field = sort_field(param(request, "order"))
    try:
        page = explore_items(
            user=request.user, organisation=folder.organisation if folder is not None else None,
            scope_folder=folder, recursive=recursive,
            tree=listing_filter(item_types=_item_types(request), search=param(request, "search") or ""),
            sort=(SortKey("field", "created" if field == "created_at" else "name", param_bool(request, "desc")),),
            page_size=param_int(request, "pageSize", 100, low=1, high=MAX_PAGE_SIZE),
            page_token=param(request, "pageToken") or None, defer=WIRE_DEFERRED,
        )
    except ServiceValidationError as exc:
        if "page_token" in exc.message_dict:
            raise exceptions.ValidationError({"pageToken": "not a token this server issued for this ordering"}) from exc
        raise
    results = items_wire(page.rows, base_url=base_url(request), user=request.user,
                         sign_urls=param_bool(request, "signUrls"),
                         include_metadata=param_bool(request, "includeClientMetadata", default=True))
    return Response({"results": results, "nextPageToken": page.next_token})


def items_for(user, uuids: list, *, role: str = FolderRole.VIEWER) -> list[Item]:
    return items_get_for(user=user, pks=[as_uuid(value, "itemUuids") for value in uuids], role=role,
                         defer=WIRE_DEFERRED)


def _item_in_folder(request, folder_uuid, item_uuid) -> Item:
    folder = folder_for(request, folder_uuid)
    item = item_get_for(user=request.user, pk=path_uuid(item_uuid, "item"))
    require_in_folder(item.folder_id, folder, "item")
    return item


def _fresh(items: list[Item]) -> list[Item]:
    by_pk = Item.objects.defer(*WIRE_DEFERRED).in_bulk([item.pk for item in items])
    return [by_pk[item.pk] for item in items]


class FolderItemsView(EncordView):
    def get(self, request, folder_uuid):
        """``folder.list_items()``: top-level items, or the whole subtree with ``isRecursive``."""
        return items_page(request, folder=folder_for(request, folder_uuid), recursive=param_bool(request, "isRecursive"))


class ItemSearchView(EncordView):
    def get(self, request):
        """``find_storage_items``: items of every folder you can see."""
        return items_page(request, folder=None)


class ItemView(EncordView):
    def get(self, request, item_uuid):
        """``get_storage_item(uuid, sign_url=)``."""
        item = item_get_for(user=request.user, pk=path_uuid(item_uuid, "item"))
        return Response(item_wire(item, base_url=base_url(request), user=request.user, sign_url=param_bool(request, "signUrl")))


class ItemsGetBulkView(EncordView):
    def post(self, request):
        """``get_storage_items``: ``{itemUuids, signUrls}`` → ``{"results"}`` in request order."""
        data = body_object(request)
        uuids = body_get(data, "itemUuids") or []
        if len(uuids) > BUNDLE_MAX:
            raise exceptions.ValidationError({"itemUuids": f"at most {BUNDLE_MAX} per request"})
        items = items_for(request.user, uuids)
        return Response({"results": items_wire(items, base_url=base_url(request), user=request.user,
                                               sign_urls=bool(body_get(data, "signUrls")))})


def _patch_parts(patch) -> tuple[str | None, str | None, dict | None]:
    if not isinstance(patch, dict):
        raise exceptions.ValidationError("Each item patch must be an object.")
    metadata = body_get(patch, "clientMetadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise exceptions.ValidationError({"clientMetadata": "must be a JSON object"})
    return body_get(patch, "name"), body_get(patch, "description"), metadata


class FolderItemView(EncordView):
    def patch(self, request, folder_uuid, item_uuid):
        """``item.update(name=, description=, client_metadata=)`` without a bundle: replaces the metadata."""
        item = _item_in_folder(request, folder_uuid, item_uuid)
        name, description, metadata = _patch_parts(body_object(request))
        with transaction.atomic():
            if name is not None or description is not None:
                item_services.item_update(user=request.user, item=item, name=name, description=description)
            if metadata is not None:
                item_metadata_replace(user=request.user, item=item, metadata=metadata)
        return Response(item_wire(_fresh([item])[0], base_url=base_url(request), user=request.user))


class ItemsPatchBulkView(EncordView):
    def patch(self, request):
        """Bundled ``item.update(..., bundle=)``: ``{"itemPatches": {uuid: {...}}}``, up to 1,000, all or nothing."""
        patches = bundle_patches(request, "itemPatches")
        items = items_for(request.user, list(patches))
        parts = [_patch_parts(patch) for patch in patches.values()]
        writes = [MetadataWrite(item.pk, metadata, merge=False)
                  for item, (_, _, metadata) in zip(items, parts, strict=True) if metadata is not None]
        with transaction.atomic():
            for item, (name, description, _) in zip(items, parts, strict=True):
                if name is not None or description is not None:
                    item_services.item_update(user=request.user, item=item, name=name, description=description)
            if writes:
                items_metadata_write(user=request.user, writes=writes)
        return Response({"results": items_wire(_fresh(items), base_url=base_url(request), user=request.user)})


class ChildItemsView(EncordView):
    def get(self, request, folder_uuid, item_uuid):
        """``item.get_child_items()``: every child of a group, sequence or series, in position order."""
        item = _item_in_folder(request, folder_uuid, item_uuid)
        children = list(item_children(item=item).defer(*WIRE_DEFERRED))
        return Response({"results": items_wire(children, base_url=base_url(request), user=request.user,
                                               sign_urls=param_bool(request, "signUrls")),
                         "nextPageToken": None})


class ItemsMoveView(EncordView):
    def post(self, request, folder_uuid):
        """``item.move_to_folder`` / ``folder.move_items_to_folder``: ``{itemUuids, newParentUuid}``."""
        folder = folder_for(request, folder_uuid)
        data = body_object(request)
        items = items_for(request.user, body_get(data, "itemUuids") or [])
        for item in items:
            require_in_folder(item.folder_id, folder, "item")
        destination = folder_for(request, as_uuid(body_get(data, "newParentUuid"), "newParentUuid"))
        item_services.items_move(user=request.user, items=items, destination=destination)
        return Response(status=204)


class ItemsDeleteView(EncordView):
    def post(self, request, folder_uuid):
        """``item.delete()`` / ``folder.delete_items``: ``{childUuids}`` go to the trash (restorable in Loupe)."""
        folder = folder_for(request, folder_uuid)
        items = items_for(request.user, body_get(body_object(request), "childUuids") or [])
        for item in items:
            require_in_folder(item.folder_id, folder, "item")
        item_services.items_trash(user=request.user, items=items)
        return Response({"removedItemsCount": len(items), "removedFoldersCount": 0})
