"""Trashed folders answer like the trash does everywhere: every route that names a trashed folder, or
something in one (an item, an import job, a metadata job), is a 404 on REST, pages and Encord routes,
even for an organisation admin, who sees everything live. Restoring still works, and brings it all back.
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from apps.core.models import OrganisationRole
from apps.metadata.models_jobs import MetadataJob
from apps.metadata.records import MetadataChange
from apps.metadata.services.updates import item_metadata_merge
from apps.storage.models import FolderRole, ImportJob, Item, ItemType
from apps.storage.services.folders import folder_create, folder_member_set, folder_trash
from apps.storage.services.integrations import integration_builtin_get_or_create


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    owner = make_user(org, email="owner@example.com")
    admin = make_user(org, role=OrganisationRole.ADMIN, email="orgadmin@example.com")
    viewer = make_user(org, email="viewer@example.com")
    top = folder_create(user=owner, name="top", organisation=org)
    sub = folder_create(user=owner, name="sub", parent=top)
    folder_member_set(user=owner, folder=top, member=viewer, role=FolderRole.VIEWER)
    item = Item.objects.create(organisation=org, folder=sub, item_type=ItemType.IMAGE, name="a.jpg",
                               url="https://cdn.example.com/a.jpg")
    item_metadata_merge(user=owner, item=item, patch={"site": "Algiers"})
    job = ImportJob.objects.create(  # never sent to a worker: it stays PENDING
        organisation=org, folder=sub, integration=integration_builtin_get_or_create(organisation=org),
        created_by=owner, source="imports/trashed.json", file_name="trashed.json",
    )
    metadata_job = MetadataJob(organisation=org, folder=sub, created_by=owner, file_name="m.csv", file_format="csv")
    metadata_job.source.save("m.csv", ContentFile(b"uuid,site\n"), save=False)
    metadata_job.save()
    folder_trash(user=owner, folder=top)
    pages = Client()
    pages.force_login(admin)
    return {"owner": owner, "admin": admin, "top": top, "sub": sub, "item": item, "job": job,
            "mjob": metadata_job, "change": MetadataChange.objects.get(item=item), "api": api_for(admin),
            "pages": pages}


def _get(path):
    return lambda w: w["api"].get(path.format(**w))


def _post(path, **kwargs):
    return lambda w: w["api"].post(path.format(**w), **kwargs)


def _page(method, path):
    return lambda w: getattr(w["pages"], method)(path.format(**w))


ROUTES = {
    "rest_folder": _get("/api/v1/folders/{sub.pk}"),
    "rest_top_folder": _get("/api/v1/folders/{top.pk}"),
    "rest_children": _get("/api/v1/folders?parent={top.pk}"),
    "rest_members": _get("/api/v1/folders/{top.pk}/members"),
    "rest_members_add": _post("/api/v1/folders/{top.pk}/members", json={"email": "viewer@example.com",
                                                                         "role": "editor"}),
    "rest_member_remove": lambda w: w["api"].delete(f"/api/v1/folders/{w['top'].pk}/members/viewer@example.com"),
    "rest_rename": lambda w: w["api"].patch(f"/api/v1/folders/{w['sub'].pk}", json={"name": "x"}),
    "rest_subfolder_create": lambda w: w["api"].post("/api/v1/folders", json={"name": "new", "parent": str(w["sub"].pk)}),
    "rest_folder_items": _get("/api/v1/folders/{sub.pk}/items"),
    "rest_import_create": _post("/api/v1/folders/{sub.pk}/imports", json={"images": []}),
    "rest_item": _get("/api/v1/items/{item.pk}"),
    "rest_item_children": _get("/api/v1/items/{item.pk}/children"),
    "rest_item_metadata": _get("/api/v1/items/{item.pk}/metadata"),
    "rest_item_history": _get("/api/v1/items/{item.pk}/metadata/history"),
    "rest_item_revert": _post("/api/v1/items/{item.pk}/metadata/history/{change.pk}/revert"),
    "rest_item_frames": _get("/api/v1/items/{item.pk}/frames"),
    "rest_import_job": _get("/api/v1/imports/{job.pk}"),
    "rest_import_job_items": _get("/api/v1/imports/{job.pk}/items"),
    "rest_import_job_errors": _get("/api/v1/imports/{job.pk}/errors"),
    "rest_import_job_errors_csv": _get("/api/v1/imports/{job.pk}/errors.csv"),
    "rest_import_job_cancel": _post("/api/v1/imports/{job.pk}/cancel"),
    "rest_metadata_job": _get("/api/v1/metadata/jobs/{mjob.pk}"),
    "rest_metadata_job_cancel": _post("/api/v1/metadata/jobs/{mjob.pk}/cancel"),
    "page_folder": _page("get", "/folders/{sub.pk}/"),
    "page_members_add": lambda w: w["pages"].post(f"/folders/{w['top'].pk}/members",
                                                  {"email": "viewer@example.com", "role": "editor"}),
    "page_folder_jobs": _page("get", "/folders/{sub.pk}/jobs"),
    "page_import_job": _page("get", "/imports/{job.pk}/"),
    "page_import_job_errors_csv": _page("get", "/imports/{job.pk}/errors.csv"),
    "page_import_job_cancel": _page("post", "/imports/{job.pk}/cancel"),
    "page_item": _page("get", "/items/{item.pk}/"),
    "page_item_content": _page("get", "/items/{item.pk}/content"),
    "page_item_history": _page("get", "/metadata/items/{item.pk}/history"),
    "encord_folder": _get("/v2/public/storage/folders/{sub.pk}"),
    "encord_subfolders": _get("/v2/public/storage/folders/{top.pk}/folders"),
    "encord_folder_items": _get("/v2/public/storage/folders/{sub.pk}/items"),
    "encord_item": _get("/v2/public/storage/items/{item.pk}"),
    "encord_folder_item_patch": lambda w: w["api"].patch(
        f"/v2/public/storage/folders/{w['sub'].pk}/items/{w['item'].pk}", json={"name": "b.jpg"}),
    "encord_upload_job": _get("/v2/public/storage/folders/{sub.pk}/data-upload-jobs/{job.pk}?timeoutSeconds=0"),
}


def test_every_route_answers_404_for_a_trashed_folder_until_it_is_restored(world):
    answers = {name: call(world).status_code for name, call in ROUTES.items()}

    assert answers == dict.fromkeys(ROUTES, 404)
    assert ImportJob.objects.get(pk=world["job"].pk).cancel_requested is False
    assert MetadataJob.objects.get(pk=world["mjob"].pk).cancel_requested is False

    assert world["api"].post(f"/api/v1/folders/{world['top'].pk}/restore").status_code == 200
    reads = ["rest_folder", "rest_members", "rest_item", "rest_import_job", "rest_metadata_job", "page_import_job",
             "encord_folder", "encord_upload_job"]
    assert {name: ROUTES[name](world).status_code for name in reads} == dict.fromkeys(reads, 200)
