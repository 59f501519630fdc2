"""The access-control matrix: every role against every folder action, over real HTTP.

Later issues add rows (items, metadata, jobs) to ACTIONS; the roles stay the same.
Expected: the action's success status, 403 for a role that sees the folder but may not act, and 404
for anyone who may not see it at all (its existence is not revealed). A refused request changes nothing.
"""

from __future__ import annotations

import json

import pytest

from apps.core.models import OrganisationRole
from apps.metadata.records import MetadataChange
from apps.metadata.services.derived import metadata_with_vectors
from apps.metadata.services.updates import item_metadata_merge
from apps.storage.models import Folder, FolderMember, FolderRole, ImportJob, ImportJobStatus, Item, ItemType
from apps.storage.services.folders import folder_create, folder_member_set, folder_trash
from apps.storage.services.integrations import integration_builtin_get_or_create

ROLES = ["org_admin", "folder_admin", "editor", "viewer", "org_member", "other_org"]


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    from tests.factories import OrganisationFactory

    owner = make_user(org, email="owner@example.com")
    users = {
        "org_admin": make_user(org, role=OrganisationRole.ADMIN, email="orgadmin@example.com"),
        "folder_admin": make_user(org, email="fadmin@example.com"),
        "editor": make_user(org, email="editor@example.com"),
        "viewer": make_user(org, email="viewer@example.com"),
        "org_member": make_user(org, email="member@example.com"),
        "other_org": make_user(OrganisationFactory(name="Elsewhere"), email="other@example.com"),
    }
    top = folder_create(user=owner, name="top", organisation=org)
    sub = folder_create(user=owner, name="sub", parent=top)
    folder_create(user=owner, name="sibling", parent=top)
    for role_name, role in [("folder_admin", FolderRole.ADMIN), ("editor", FolderRole.EDITOR),
                            ("viewer", FolderRole.VIEWER)]:
        folder_member_set(user=owner, folder=top, member=users[role_name], role=role)
    trashed = folder_create(user=owner, name="old", parent=top)
    folder_trash(user=owner, folder=trashed)
    item, trashed_item = (
        Item.objects.create(organisation=org, folder=sub, item_type=ItemType.IMAGE, name=name,
                            url=f"https://cdn.example.com/{name}", **extra)
        for name, extra in [("a.jpg", {}), ("gone.jpg", {"deleted_at": "2026-01-01T00:00:00Z",
                                                          "trash_batch": "6f1f0c1e-0000-4000-8000-000000000001"})]
    )
    item_metadata_merge(user=owner, item=item, patch={"site": "Algiers"})  # a change to read and revert
    job = ImportJob.objects.create(  # never sent to a worker: it stays PENDING
        organisation=org, folder=sub, integration=integration_builtin_get_or_create(organisation=org),
        created_by=owner, source="imports/matrix.json", file_name="matrix.json",
    )
    return {"owner": owner, "users": users, "top": top, "sub": sub, "trashed": trashed, "item": item,
            "trashed_item": trashed_item, "job": job, "api_for": api_for,
            "change": MetadataChange.objects.get(item=item)}


def _snapshot():
    return sorted(
        (str(f.pk), f.name, str(f.parent_id), bool(f.deleted_at)) for f in Folder.objects.all()
    ), sorted((str(m.folder_id), m.user_id, m.role) for m in FolderMember.objects.all()), sorted(
        (str(i.pk), i.name, str(i.folder_id), bool(i.deleted_at)) for i in Item.objects.all()
    ), sorted((str(j.pk), j.status) for j in ImportJob.objects.all()), sorted(
        (str(pk), json.dumps(metadata, sort_keys=True))
        for pk, metadata in metadata_with_vectors(Item.objects.all()).items()
    ), MetadataChange.objects.count()


ACTIONS = {
    # name: (call, success status, role needed)
    "read": (lambda api, w: api.get(f"/api/v1/folders/{w['sub'].pk}"), 200, FolderRole.VIEWER),
    "list_children": (lambda api, w: api.get(f"/api/v1/folders?parent={w['top'].pk}"), 200, FolderRole.VIEWER),
    "create_subfolder": (
        lambda api, w: api.post("/api/v1/folders", json={"name": "new", "parent": str(w["sub"].pk)}),
        201, FolderRole.EDITOR),
    "rename": (lambda api, w: api.patch(f"/api/v1/folders/{w['sub'].pk}", json={"name": "renamed"}),
               200, FolderRole.EDITOR),
    "move_within_tree": (
        lambda api, w: api.patch(f"/api/v1/folders/{w['sub'].pk}",
                                 json={"parent": str(Folder.objects.get(name="sibling").pk)}),
        200, FolderRole.EDITOR),
    "delete": (lambda api, w: api.delete(f"/api/v1/folders/{w['sub'].pk}"), 204, FolderRole.ADMIN),
    "restore": (lambda api, w: api.post(f"/api/v1/folders/{w['trashed'].pk}/restore"), 200, FolderRole.ADMIN),
    "add_member": (
        lambda api, w: api.post(f"/api/v1/folders/{w['top'].pk}/members",
                                json={"email": "member@example.com", "role": "viewer"}),
        200, FolderRole.ADMIN),
    # items
    "list_items": (lambda api, w: api.get(f"/api/v1/folders/{w['sub'].pk}/items"), 200, FolderRole.VIEWER),
    "read_item": (lambda api, w: api.get(f"/api/v1/items/{w['item'].pk}"), 200, FolderRole.VIEWER),
    "rename_item": (lambda api, w: api.patch(f"/api/v1/items/{w['item'].pk}", json={"name": "b.jpg"}),
                    200, FolderRole.EDITOR),
    "move_items": (
        lambda api, w: api.post("/api/v1/items/move", json={
            "items": [str(w["item"].pk)], "destination": str(Folder.objects.get(name="sibling").pk)}),
        200, FolderRole.EDITOR),
    "trash_items": (lambda api, w: api.post("/api/v1/items/trash", json={"items": [str(w["item"].pk)]}),
                    200, FolderRole.EDITOR),
    "restore_items": (
        lambda api, w: api.post("/api/v1/items/restore", json={"items": [str(w["trashed_item"].pk)]}),
        200, FolderRole.EDITOR),
    # import jobs
    "import": (lambda api, w: api.post(f"/api/v1/folders/{w['sub'].pk}/imports", json={"images": []}),
               202, FolderRole.EDITOR),
    "read_import": (lambda api, w: api.get(f"/api/v1/imports/{w['job'].pk}"), 200, FolderRole.VIEWER),
    "cancel_import": (lambda api, w: api.post(f"/api/v1/imports/{w['job'].pk}/cancel"), 200, FolderRole.EDITOR),
    # metadata
    "read_metadata": (lambda api, w: api.get(f"/api/v1/items/{w['item'].pk}/metadata"), 200, FolderRole.VIEWER),
    "replace_metadata": (lambda api, w: api.put(f"/api/v1/items/{w['item'].pk}/metadata", json={"site": "Oran"}),
                         200, FolderRole.EDITOR),
    "merge_metadata": (
        lambda api, w: api.patch(f"/api/v1/items/{w['item'].pk}/metadata", json={"site": None, "n": 1},
                                 headers={"Content-Type": "application/merge-patch+json"}),
        200, FolderRole.EDITOR),
    "read_metadata_history": (lambda api, w: api.get(f"/api/v1/items/{w['item'].pk}/metadata/history"),
                              200, FolderRole.VIEWER),
    "revert_metadata": (
        lambda api, w: api.post(f"/api/v1/items/{w['item'].pk}/metadata/history/{w['change'].pk}/revert"),
        200, FolderRole.EDITOR),
}

ACTIONS_STARTING_JOBS = frozenset({"import"})
JOB_TIMEOUT_S = 30


def _job_finished(job_uuid: str) -> str:
    import time

    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        status = ImportJob.objects.get(pk=job_uuid).status
        if status in ImportJobStatus.finished():
            return status
        time.sleep(0.05)
    raise AssertionError(f"import job {job_uuid} did not finish in {JOB_TIMEOUT_S} s")


EFFECTIVE_ROLE = {
    "org_admin": FolderRole.ADMIN, "folder_admin": FolderRole.ADMIN, "editor": FolderRole.EDITOR,
    "viewer": FolderRole.VIEWER, "org_member": None, "other_org": None,
}


def _expected(role_name: str, needed: str) -> int | None:
    role = EFFECTIVE_ROLE[role_name]
    if role is None:
        return 404
    return None if FolderRole.rank(role) >= FolderRole.rank(needed) else 403


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role_name", ROLES)
def test_folder_action_matrix(world, role_name, action, request):
    call, success, needed = ACTIONS[action]
    if action in ACTIONS_STARTING_JOBS:
        request.getfixturevalue("celery_worker_process")
    api = world["api_for"](world["users"][role_name])
    before = _snapshot()

    response = call(api, world)

    expected = _expected(role_name, needed) or success
    assert response.status_code == expected, response.text
    if action in ACTIONS_STARTING_JOBS and expected == success:
        # The session's worker runs the job; it must be done before teardown truncates the tables,
        # or the TRUNCATE and the worker's transaction deadlock.
        assert _job_finished(response.json()["uuid"]) == ImportJobStatus.DONE
    if expected != success:
        assert _snapshot() == before
        assert response.headers["Content-Type"] == "application/json"


def test_top_level_listing_shows_only_granted_trees(world):
    listing = {
        role: sorted(f["name"] for f in world["api_for"](user).get("/api/v1/folders").json())
        for role, user in world["users"].items()
    }
    assert listing == {
        "org_admin": ["top"], "folder_admin": ["top"], "editor": ["top"], "viewer": ["top"],
        "org_member": [], "other_org": [],
    }


def test_children_listing_hides_trashed_folders(world):
    names = [f["name"] for f in world["api_for"](world["users"]["viewer"]).get(
        f"/api/v1/folders?parent={world['top'].pk}").json()]
    assert names == ["sibling", "sub"]
