"""The metadata schema over real HTTP with API tokens: admins change it, members read it, strangers get 401."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from apps.metadata.models import Embedding, KeyState, MetadataKey
from apps.storage.models import Item, ItemType
from apps.storage.services.folders import folder_create
from tests.factories import OrganisationFactory


@pytest.fixture
def alice(transactional_db, org, make_user):
    return make_user(org, role="admin", email="alice@example.com")


@pytest.fixture
def bob(transactional_db, org, make_user):
    return make_user(org, role="member", email="bob@example.com")


def _key_json(key: MetadataKey) -> dict:
    return {"created_at": key.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": key.updated_at.isoformat().replace("+00:00", "Z")}


def test_admin_adds_keys_members_read_them(api_for, alice, bob, org):
    admin = api_for(alice)
    response = admin.post("/api/v1/metadata/schema/keys", json={"name": "weather", "type": "enum",
                                                                "enum_values": ["sun", "rain"]})
    assert response.status_code == 201, response.text
    key = MetadataKey.objects.get(name="weather")
    assert response.json() == {"name": "weather", "type": "enum", "state": "active", "deleted_type": None,
                               "enum_values": ["rain", "sun"], "size": None, "max_length": None, "embedder": "none",
                               "embedder_url": "", "embedder_inputs": [], "embedder_timeout": None} | _key_json(key)
    assert admin.post("/api/v1/metadata/schema/keys", json={"name": "clip", "type": "embedding", "size": 3}).status_code == 201
    assert admin.post("/api/v1/metadata/schema/keys", json={"name": "caption", "type": "string", "max_length": 80}).status_code == 201

    response = api_for(bob).get("/api/v1/metadata/schema")
    assert response.status_code == 200
    body = response.json()
    assert body["organisation"] == str(org.pk)
    assert [(k["name"], k["type"], k["state"], k["enum_values"], k["size"], k["max_length"]) for k in body["keys"]] == [
        ("caption", "varchar", "active", [], None, 80),
        ("clip", "embedding", "active", [], 3, None),
        ("weather", "enum", "active", ["rain", "sun"], None, None),
    ]
    assert api_for(bob).get("/api/v1/metadata/schema/keys").json() == body["keys"]


def test_members_get_403_and_strangers_401(api_for, alice, bob, org):
    api_for(alice).post("/api/v1/metadata/schema/keys", json={"name": "score", "type": "number"})
    member, anonymous = api_for(bob), api_for(None)
    denied = {"detail": "Only organisation admins can change the metadata schema."}
    for method, path, body in [
        ("post", "/api/v1/metadata/schema/keys", {"name": "x", "type": "number"}),
        ("patch", "/api/v1/metadata/schema/keys/score", {"type": "text"}),
        ("post", "/api/v1/metadata/schema/keys/score/delete", None),
        ("post", "/api/v1/metadata/schema/keys/score/restore", None),
        ("delete", "/api/v1/metadata/schema/keys/score", None),
        ("put", "/api/v1/metadata/schema", {}),
    ]:
        response = getattr(member, method)(path, json=body)
        assert (response.status_code, response.json()) == (403, denied), (method, path)
        assert getattr(anonymous, method)(path, json=body).status_code == 401
    assert anonymous.get("/api/v1/metadata/schema").status_code == 401
    assert MetadataKey.objects.get().state == KeyState.ACTIVE


def test_refusals_are_field_keyed_400s(api_for, alice):
    admin = api_for(alice)
    admin.post("/api/v1/metadata/schema/keys", json={"name": "score", "type": "number"})
    for body, errors in [
        ({"name": "score", "type": "text"}, {"name": ['Key "score" already exists.']}),
        ({"name": "$x", "type": "text"}, {"name": ['A key name cannot start with "$".']}),
        ({"name": "clip", "type": "embedding", "size": 5000}, {"size": ["An embedding's size is an integer from 1 to 4096."]}),
        ({"name": "clip"}, {"type": ["This field is required."]}),
    ]:
        response = admin.post("/api/v1/metadata/schema/keys", json=body)
        assert (response.status_code, response.json()) == (400, errors)


def test_patch_adds_enum_values_or_retypes_with_a_report(api_for, alice, org):
    admin = api_for(alice)
    admin.post("/api/v1/metadata/schema/keys", json={"name": "weather", "type": "enum", "enum_values": ["sun"]})
    admin.post("/api/v1/metadata/schema/keys", json={"name": "score", "type": "number"})
    folder = folder_create(user=alice, name="data", organisation=org)
    item = Item.objects.create(organisation=org, folder=folder, item_type=ItemType.IMAGE, name="a.jpg",
                               client_metadata={"score": 5})

    response = admin.patch("/api/v1/metadata/schema/keys/weather", json={"enum_values": ["rain", "fog"]})
    assert response.status_code == 200
    assert (response.json()["enum_values"], response.json()["report"]) == (["fog", "rain", "sun"], None)

    response = admin.patch("/api/v1/metadata/schema/keys/score", json={"type": "boolean"})
    assert response.status_code == 200
    assert (response.json()["type"], response.json()["report"]) == ("boolean", {
        "key": "score", "old_type": "number", "new_type": "boolean", "checked": 1, "invalid": 1,
        "examples": [{"item": str(item.pk), "frame": None, "value": 5}],
    })

    for path, body, errors in [
        ("weather", {"type": "text"}, {"type": ['Key "weather" is an enum key: enum and embedding keys cannot be re-typed.']}),
        ("weather", {"type": "text", "enum_values": ["x"]}, {"type": ["Give one of: a new type, enum values to add, or an embedder (not several)."]}),
        ("score", {"enum_values": ["x"]}, {"enum_values": ['Key "score" is boolean, not an enum.']}),
    ]:
        response = admin.patch(f"/api/v1/metadata/schema/keys/{path}", json=body)
        assert (response.status_code, response.json()) == (400, errors)
    assert admin.patch("/api/v1/metadata/schema/keys/nope", json={"type": "text"}).status_code == 404


def test_soft_delete_restore_and_hard_delete_by_name(api_for, alice, org):
    admin = api_for(alice)
    admin.post("/api/v1/metadata/schema/keys", json={"name": "video.description v2", "type": "embedding", "size": 3})
    path = "/api/v1/metadata/schema/keys/" + quote("video.description v2")
    key = MetadataKey.objects.get()
    folder = folder_create(user=alice, name="data", organisation=org)
    item = Item.objects.create(organisation=org, folder=folder, item_type=ItemType.IMAGE, name="a.jpg")
    Embedding.objects.create(key=key, item=item, vector=[1, 2, 3])

    response = admin.post(path + "/delete")
    assert (response.status_code, response.json()["state"], response.json()["type"], response.json()["deleted_type"]) == (
        200, "deleted", None, "embedding")
    assert admin.get(path).json()["state"] == "deleted"
    response = admin.post(path + "/restore")
    assert (response.status_code, response.json()["state"], response.json()["type"]) == (200, "active", "embedding")

    assert admin.delete(path).status_code == 204
    assert Embedding.objects.count() == 0
    response = admin.post(path + "/restore")
    assert (response.status_code, response.json()) == (
        400, {"state": ['Key "video.description v2" was hard deleted and cannot be restored.']})
    response = admin.post("/api/v1/metadata/schema/keys", json={"name": "video.description v2", "type": "text"})
    assert (response.status_code, response.json()) == (
        400, {"name": ['Key "video.description v2" was hard deleted; its name stays taken.']})


def test_put_replaces_the_schema_from_an_sdk_body(api_for, alice):
    admin = api_for(alice)
    admin.post("/api/v1/metadata/schema/keys", json={"name": "legacy", "type": "number"})
    body = {
        "score": {"ty": "variant", "hint": "number"},
        "weather": {"ty": "enum", "values": ["sun", "rain"]},
        "clip": {"ty": "embedding", "size": 512, "api": None},
        "gone": {"ty": "tombstone", "deleted_ty": None},
    }
    response = admin.put("/api/v1/metadata/schema", json=body)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert {k: v for k, v in saved.items() if k != "keys"} == {
        "added": ["score", "weather", "clip"], "retyped": [], "enum_values_added": {},
        "soft_deleted": ["legacy"], "restored": [], "hard_deleted": [],
    }
    assert [(k["name"], k["state"]) for k in saved["keys"]] == [
        ("clip", "active"), ("gone", "tombstone"), ("legacy", "deleted"), ("score", "active"), ("weather", "active")]

    response = admin.put("/api/v1/metadata/schema", json={**body, "clip": {"ty": "embedding", "size": 768}})
    assert (response.status_code, response.json()) == (
        400, {"clip": ["Key \"clip\": an embedding's size cannot change (512 → 768)."]})
    response = admin.put("/api/v1/metadata/schema", json={"x": {"ty": "nope"}})
    assert (response.status_code, response.json()) == (400, {"x": ['key "x": type "nope" is not supported']})


def test_the_organisation_is_named_when_the_caller_has_several(api_for, alice, org, transactional_db):
    from apps.core.services import organisation_member_set

    other = OrganisationFactory(name="Other")
    organisation_member_set(organisation=other, user=alice, role="admin")
    admin = api_for(alice)
    response = admin.get("/api/v1/metadata/schema")
    assert (response.status_code, response.json()) == (
        400, {"organisation": ["You belong to several organisations: name one."]})
    response = admin.post("/api/v1/metadata/schema/keys", json={"name": "k", "type": "text", "organisation": str(other.pk)})
    assert response.status_code == 201
    assert admin.get(f"/api/v1/metadata/schema?organisation={other.pk}").json()["keys"][0]["name"] == "k"
    assert admin.get(f"/api/v1/metadata/schema?organisation={org.pk}").json()["keys"] == []
    stranger = OrganisationFactory(name="Stranger")
    response = admin.get(f"/api/v1/metadata/schema?organisation={stranger.pk}")
    assert (response.status_code, response.json()) == (400, {"organisation": ["Unknown organisation."]})


def test_openapi_schema_lists_the_metadata_routes(api_for, alice):
    paths = api_for(alice).get("/api/schema?format=json").json()["paths"]
    assert {"/api/v1/metadata/schema", "/api/v1/metadata/schema/keys", "/api/v1/metadata/schema/keys/{name}",
            "/api/v1/metadata/schema/keys/{name}/delete", "/api/v1/metadata/schema/keys/{name}/restore"} <= set(paths)
