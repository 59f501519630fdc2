"""Routes of the Encord wire protocol (spec/encord-compat.md). No trailing slashes: the SDK sends none."""

from django.urls import path

from apps.encord_compat.views import folders, items, organisation, uploads

F = "storage/folders/<str:folder_uuid>"

urlpatterns = [
    path("storage/folders", folders.FoldersView.as_view()),
    path("storage/folders/patch-bulk", folders.FolderPatchBulkView.as_view()),
    path("storage/folders/move", folders.FoldersMoveView.as_view()),
    path("storage/search/folders", folders.FolderSearchView.as_view()),
    path("storage/search/items", items.ItemSearchView.as_view()),
    path("storage/items/get-bulk", items.ItemsGetBulkView.as_view()),
    path("storage/items/patch-bulk", items.ItemsPatchBulkView.as_view()),
    path("storage/items/<str:item_uuid>", items.ItemView.as_view()),
    path(F, folders.FolderView.as_view()),
    path(f"{F}/folders", folders.SubfoldersView.as_view()),
    path(f"{F}/items", items.FolderItemsView.as_view()),
    path(f"{F}/items/move", items.ItemsMoveView.as_view()),
    path(f"{F}/items/delete", items.ItemsDeleteView.as_view()),
    path(f"{F}/items/<str:item_uuid>", items.FolderItemView.as_view()),
    path(f"{F}/items/<str:item_uuid>/child-items", items.ChildItemsView.as_view()),
    path(f"{F}/data-upload-jobs", uploads.UploadJobsView.as_view()),
    path(f"{F}/data-upload-jobs/<str:job_uuid>", uploads.UploadJobView.as_view()),
    path(f"{F}/data-upload-jobs/<str:job_uuid>/cancel", uploads.UploadJobCancelView.as_view()),
    path("organisation/client-metadata-schema-v2", organisation.SchemaV2View.as_view()),
    path("organisation/client-metadata-schema", organisation.SchemaLegacyView.as_view()),
    path("cloud-integrations", organisation.CloudIntegrationsView.as_view()),
]
