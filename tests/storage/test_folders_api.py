"""Folder behaviour through the REST API over real HTTP: tree edits, validation, trash."""

from __future__ import annotations

import uuid

import pytest

from apps.storage.models import Folder


@pytest.fixture
def alice(transactional_db, org, make_user):
    return make_user(org, email="alice@example.com")


def _create(api, name, parent=None):
    body = {"name": name} | ({"parent": str(parent)} if parent else {})
    response = api.post("/api/v1/folders", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_unauthenticated_requests_get_401(api_for, transactional_db):
    anonymous = api_for(None)
    assert anonymous.get("/api/v1/folders").status_code == 401
    response = anonymous.post("/api/v1/folders", json={"name": "x"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert Folder.objects.count() == 0


def test_revoked_token_gets_401(api_for, alice):
    from apps.core.models import ApiToken

    api = api_for(alice)
    assert api.get("/api/v1/folders").status_code == 200
    ApiToken.objects.filter(user=alice).update(revoked_at="2026-01-01T00:00:00Z")
    response = api.get("/api/v1/folders")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token."}


def test_nested_folders_carry_path_and_root(api_for, alice):
    api = api_for(alice)
    a = _create(api, "a")
    b = _create(api, "b", a["uuid"])
    c = _create(api, "c", b["uuid"])
    assert c["path"] == [a["uuid"], b["uuid"]]
    assert c["parent"] == b["uuid"]
    assert str(Folder.objects.get(pk=c["uuid"]).root_id) == a["uuid"]


def test_move_rewrites_the_whole_subtree(api_for, alice):
    api = api_for(alice)
    a = _create(api, "a")
    b = _create(api, "b", a["uuid"])
    c = _create(api, "c", b["uuid"])
    x = _create(api, "x")

    response = api.patch(f"/api/v1/folders/{b['uuid']}", json={"parent": x["uuid"]})

    assert response.status_code == 200, response.text
    assert response.json()["path"] == [x["uuid"]]
    moved_c = Folder.objects.get(pk=c["uuid"])
    assert [str(p) for p in moved_c.path] == [x["uuid"], b["uuid"]]
    assert str(moved_c.root_id) == x["uuid"]


def test_move_to_top_level_keeps_members_and_path(api_for, alice):
    api = api_for(alice)
    a = _create(api, "a")
    b = _create(api, "b", a["uuid"])
    c = _create(api, "c", b["uuid"])
    response = api.patch(f"/api/v1/folders/{b['uuid']}", json={"parent": None})
    assert response.status_code == 200
    assert response.json()["path"] == []
    assert [str(p) for p in Folder.objects.get(pk=c["uuid"]).path] == [b["uuid"]]
    assert [m["email"] for m in api.get(f"/api/v1/folders/{b['uuid']}/members").json()] == ["alice@example.com"]


def test_move_into_own_subfolder_is_refused(api_for, alice):
    api = api_for(alice)
    a = _create(api, "a")
    b = _create(api, "b", a["uuid"])
    response = api.patch(f"/api/v1/folders/{a['uuid']}", json={"parent": b["uuid"]})
    assert response.status_code == 400
    assert response.json() == {"parent": ["A folder cannot move into itself or its own subfolder."]}
    assert Folder.objects.get(pk=a["uuid"]).parent_id is None


@pytest.mark.parametrize("body, field, message", [
    ({}, "name", "This field is required."),
    ({"name": ""}, "name", "This field may not be blank."),
    ({"name": "a/b"}, "name", "A folder name cannot contain '/'."),
    ({"name": "x" * 256}, "name", "Ensure this field has no more than 255 characters."),
    ({"name": "ok", "parent": "not-a-uuid"}, "parent", "Must be a valid UUID."),
])
def test_invalid_create_names_the_field_and_writes_nothing(api_for, alice, body, field, message):
    response = api_for(alice).post("/api/v1/folders", json=body)
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    assert Folder.objects.count() == 0


def test_malformed_json_is_a_400(api_for, alice):
    response = api_for(alice).post(
        "/api/v1/folders", data=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert Folder.objects.count() == 0


def test_duplicate_sibling_name_is_refused(api_for, alice):
    api = api_for(alice)
    a = _create(api, "a")
    _create(api, "b", a["uuid"])
    response = api.post("/api/v1/folders", json={"name": "b", "parent": a["uuid"]})
    assert response.status_code == 400
    assert response.json() == {"name": ["A folder named 'b' already exists here."]}
    assert Folder.objects.filter(name="b").count() == 1


def test_delete_moves_subtree_to_trash_and_restore_brings_it_back(api_for, alice):
    api = api_for(alice)
    a = _create(api, "a")
    b = _create(api, "b", a["uuid"])
    _create(api, "c", b["uuid"])

    assert api.delete(f"/api/v1/folders/{b['uuid']}").status_code == 204
    assert api.get(f"/api/v1/folders/{b['uuid']}").status_code == 404
    assert [f["name"] for f in api.get("/api/v1/folders/trash").json()] == ["b"]
    assert Folder.objects.trashed().count() == 2

    restored = api.post(f"/api/v1/folders/{b['uuid']}/restore")
    assert restored.status_code == 200
    assert restored.json()["is_trashed"] is False
    assert Folder.objects.trashed().count() == 0
    assert api.get("/api/v1/folders/trash").json() == []


def test_restore_refused_while_name_is_taken(api_for, alice):
    api = api_for(alice)
    a = _create(api, "a")
    api.delete(f"/api/v1/folders/{a['uuid']}")
    _create(api, "a")
    response = api.post(f"/api/v1/folders/{a['uuid']}/restore")
    assert response.status_code == 400
    assert response.json() == {"name": ["A folder named 'a' exists here now; rename it first."]}
    assert Folder.objects.get(pk=a["uuid"]).deleted_at is not None


def test_unknown_folder_is_404(api_for, alice):
    response = api_for(alice).get(f"/api/v1/folders/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such folder."}


def test_openapi_schema_lists_folder_routes(api_for, alice):
    response = api_for(alice).get("/api/schema?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/folders" in paths and "/api/v1/folders/{uuid}/restore" in paths
    assert api_for(None).get("/api/docs").status_code == 401
