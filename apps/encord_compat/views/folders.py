"""``storage/folders`` routes: list, create, get, update (one or bundled), move, delete, subfolders."""

from __future__ import annotations


from django.db import transaction
from rest_framework import exceptions
from rest_framework.response import Response

from apps.core.json_input import json_loads
from apps.encord_compat.base import (
    EncordView, as_uuid, body_get, body_object, bundle_patches, caller_organisation, param, param_bool, param_int,
    path_uuid,
)
from apps.encord_compat.paging import MAX_PAGE_SIZE, keyset_page, sort_field
from apps.encord_compat.wire import folders_wire
from apps.storage import selectors
from apps.storage.models import Folder, FolderRole
from apps.storage.permissions import folder_get_for
from apps.storage.services import folders as folder_services

def folder_for(request, folder_uuid, role: str = FolderRole.VIEWER) -> Folder:
    return folder_get_for(user=request.user, pk=path_uuid(folder_uuid, "folder"), role=role)


def folder_response(request, folder: Folder) -> dict:
    return folders_wire([folder], user=request.user)[0]


def _metadata_object(value, field: str) -> dict | None:
    """``clientMetadata``: a JSON string on create (as the SDK sends it) or an object on update."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json_loads(value)
        except ValueError as exc:
            raise exceptions.ValidationError({field: f"not valid JSON: {exc}"}) from exc
    if not isinstance(value, dict):
        raise exceptions.ValidationError({field: "must be a JSON object"})
    return value


def folders_page(request, queryset) -> Response:
    """A page of folders with the SDK's listing parameters (search, order, desc, pageSize, pageToken)."""
    search = param(request, "search")
    if search:
        queryset = queryset.filter(name__icontains=search)
    if param_bool(request, "datasetSynced", default=None):
        queryset = queryset.none()  # no folder mirrors a dataset yet
    rows, token = keyset_page(
        queryset, field=sort_field(param(request, "order")), desc=param_bool(request, "desc"),
        page_size=param_int(request, "pageSize", 100, low=1, high=MAX_PAGE_SIZE), token=param(request, "pageToken"),
    )
    return Response({"results": folders_wire(rows, user=request.user), "nextPageToken": token})


class FoldersView(EncordView):
    def get(self, request):
        """``list_storage_folders``: top-level folders you can see."""
        return folders_page(request, selectors.folder_list(user=request.user, top_level=True))

    def post(self, request):
        """``create_storage_folder``: ``{name, description, parent, clientMetadata: "<json>"}``."""
        data = body_object(request)
        parent_id = body_get(data, "parent")
        parent = folder_get_for(user=request.user, pk=as_uuid(parent_id, "parent")) if parent_id else None
        folder = folder_services.folder_create(
            user=request.user, name=body_get(data, "name") or "", parent=parent,
            organisation=None if parent else caller_organisation(request.user),
            description=body_get(data, "description") or "",
            client_metadata=_metadata_object(body_get(data, "clientMetadata"), "clientMetadata"),
        )
        return Response(folder_response(request, folder))


class FolderSearchView(EncordView):
    def get(self, request):
        """``find_storage_folders``: every folder you can see, at any depth."""
        return folders_page(request, selectors.folder_list(user=request.user))


class FolderView(EncordView):
    def get(self, request, folder_uuid):
        return Response(folder_response(request, folder_for(request, folder_uuid)))

    def patch(self, request, folder_uuid):
        """``folder.update(name=, description=, client_metadata=)`` without a bundle."""
        folder = folder_for(request, folder_uuid)
        folder = _folder_patch(request.user, folder, body_object(request))
        return Response(folder_response(request, folder))

    def delete(self, request, folder_uuid):
        """``folder.delete()``: the folder and everything in it go to the trash (restorable in Loupe)."""
        folder_services.folder_trash(user=request.user, folder=folder_for(request, folder_uuid))
        return Response(status=204)


def _folder_patch(user, folder: Folder, patch: dict) -> Folder:
    return folder_services.folder_update(
        user=user, folder=folder, name=body_get(patch, "name"), description=body_get(patch, "description"),
        client_metadata=_metadata_object(body_get(patch, "clientMetadata"), "clientMetadata"),
    )


class FolderPatchBulkView(EncordView):
    def patch(self, request):
        """Bundled ``folder.update(..., bundle=)``: ``{"folderPatches": {uuid: {...}}}``, all or nothing."""
        patches = bundle_patches(request, "folderPatches")
        with transaction.atomic():
            folders = [
                _folder_patch(request.user, folder_for(request, folder_uuid), patch or {})
                for folder_uuid, patch in patches.items()
            ]
        return Response({"results": folders_wire(folders, user=request.user)})


class SubfoldersView(EncordView):
    def get(self, request, folder_uuid):
        """``folder.list_subfolders()``."""
        parent = folder_for(request, folder_uuid)
        if param_bool(request, "isRecursive"):  # ``folder.find_subfolders()``: the whole subtree
            folders = selectors.folder_list(user=request.user).filter(
                pk__in=Folder.objects.live().subtree_of(parent).exclude(pk=parent.pk).values("pk"))
        else:
            folders = selectors.folder_list(user=request.user, parent=parent)
        return folders_page(request, folders)


class FoldersMoveView(EncordView):
    def post(self, request):
        """``folder.move_to_folder`` / ``move_folders``: ``{folderUuids, newParentUuid}`` (null: top level)."""
        data = body_object(request)
        uuids = body_get(data, "folderUuids") or []
        new_parent_id = body_get(data, "newParentUuid")
        with transaction.atomic():
            new_parent = folder_get_for(user=request.user, pk=as_uuid(new_parent_id, "newParentUuid")) \
                if new_parent_id else None
            for folder_uuid in uuids:
                folder = folder_get_for(user=request.user, pk=as_uuid(folder_uuid, "folderUuids"))
                folder_services.folder_move(user=request.user, folder=folder, new_parent=new_parent)
        return Response(status=204)
