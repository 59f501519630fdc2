"""Embedders in the schema: the REST schema API and the schema editor page, with their refusals."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from apps.metadata.models import MetadataKey
from apps.metadata.services.schema import EmbedderSpec, schema_key_add, schema_key_hard_delete

NONE = {"embedder": "none", "embedder_url": "", "embedder_inputs": [], "embedder_timeout": None}


@pytest.fixture
def alice(transactional_db, org, make_user):
    return make_user(org, role="admin", email="alice@example.com")


@pytest.fixture
def bob(transactional_db, org, make_user):
    return make_user(org, role="member", email="bob@example.com")


def _embedder(body: dict) -> dict:
    return {name: body[name] for name in NONE}


def test_admins_set_embedders_through_the_api(api_for, alice, bob):
    admin = api_for(alice)
    response = admin.post("/api/v1/metadata/schema/keys", json={
        "name": "text", "type": "embedding", "size": 384, "embedder": "builtin_text"})
    assert response.status_code == 201, response.text
    assert _embedder(response.json()) == NONE | {"embedder": "builtin_text"}
    admin.post("/api/v1/metadata/schema/keys", json={"name": "clip", "type": "embedding", "size": 512})

    response = admin.patch("/api/v1/metadata/schema/keys/clip", json={
        "embedder": "http", "embedder_url": "https://embed.example.com/v1", "embedder_inputs": ["image", "text"],
        "embedder_timeout": 3})
    assert response.status_code == 200, response.text
    assert _embedder(response.json()) == {"embedder": "http", "embedder_url": "https://embed.example.com/v1",
                                          "embedder_inputs": ["text", "image"], "embedder_timeout": 3.0}
    before = MetadataKey.objects.get(name="text").updated_at
    assert _embedder(admin.patch("/api/v1/metadata/schema/keys/text", json={"embedder": "none"}).json()) == NONE
    assert MetadataKey.objects.get(name="text").updated_at > before  # recorded like every schema change
    keys = {k["name"]: _embedder(k) for k in api_for(bob).get("/api/v1/metadata/schema").json()["keys"]}
    assert keys["clip"]["embedder"] == "http" and keys["text"] == NONE
    denied = api_for(bob).patch("/api/v1/metadata/schema/keys/clip", json={"embedder": "none"})
    assert denied.status_code == 403
    assert MetadataKey.objects.get(name="clip").embedder == "http"


@pytest.mark.parametrize(("name", "body", "errors"), [
    ("clip", {"embedder": "builtin_text"}, {"embedder": [
        'Key "clip" holds 512-d vectors; the built-in text model makes 384-d vectors, so it can only serve a key '
        "of size 384."]}),
    ("score", {"embedder": "builtin_text"}, {"embedder": [
        'Key "score" is not an embedding key: only embedding keys have an embedder.']}),
    ("clip", {"embedder": "magic"}, {"embedder": ['Unknown embedder "magic": choose one of none, builtin_text, http.']}),
    ("clip", {"embedder": "http", "embedder_inputs": ["text"]}, {"embedder_url": [
        "An HTTP embedder needs the URL of its endpoint."]}),
    ("clip", {"embedder": "http", "embedder_url": "ftp://x/y", "embedder_inputs": ["text"]}, {"embedder_url": [
        "The URL must be an absolute http:// or https:// URL (no spaces or control characters)."]}),
    ("clip", {"embedder": "http", "embedder_url": "http://a b/", "embedder_inputs": ["text"]}, {"embedder_url": [
        "The URL must be an absolute http:// or https:// URL (no spaces or control characters)."]}),
    ("clip", {"embedder": "http", "embedder_url": "http://x:99999/", "embedder_inputs": ["text"]}, {"embedder_url": [
        "The URL must be an absolute http:// or https:// URL (no spaces or control characters)."]}),
    ("clip", {"embedder": "http", "embedder_url": "https://e.example/", "embedder_inputs": []}, {"embedder_inputs": [
        'Say what the endpoint takes: "text", "image" or both.']}),
    ("clip", {"embedder": "http", "embedder_url": "https://e.example/", "embedder_inputs": ["audio"]},
     {"embedder_inputs": ['Say what the endpoint takes: "text", "image" or both.']}),
    ("clip", {"embedder": "http", "embedder_url": "https://e.example/", "embedder_inputs": ["text"],
              "embedder_timeout": 0}, {"embedder_timeout": [
        "The timeout is a number of seconds above 0 and at most 120."]}),
    ("clip", {"embedder": "http", "embedder_url": "https://e.example/", "embedder_inputs": ["text"],
              "embedder_timeout": 121}, {"embedder_timeout": [
        "The timeout is a number of seconds above 0 and at most 120."]}),
    ("clip", {"embedder_url": "https://e.example/"}, {"embedder": [
        "Name the embedder (none, builtin_text or http) with its settings."]}),
    ("clip", {"embedder": "none", "type": "text"}, {"type": [
        "Give one of: a new type, enum values to add, or an embedder (not several)."]}),
])
def test_embedder_refusals_are_400s_naming_the_field(api_for, alice, name, body, errors):
    admin = api_for(alice)
    admin.post("/api/v1/metadata/schema/keys", json={"name": "clip", "type": "embedding", "size": 512})
    admin.post("/api/v1/metadata/schema/keys", json={"name": "score", "type": "number"})
    response = admin.patch(f"/api/v1/metadata/schema/keys/{name}", json=body)
    assert (response.status_code, response.json()) == (400, errors)
    assert set(MetadataKey.objects.values_list("embedder", flat=True)) == {"none"}
    if "type" not in body and name == "clip":  # the same refusal when declaring a key with its embedder
        response = admin.post("/api/v1/metadata/schema/keys",
                              json={"name": "new", "type": "embedding", "size": 512, **body})
        renamed = {field: [m.replace('"clip"', '"new"') for m in messages] for field, messages in errors.items()}
        assert (response.status_code, response.json()) == (400, renamed)
        assert not MetadataKey.objects.filter(name="new").exists()


def test_the_database_refuses_an_embedder_that_does_not_fit(alice, org):
    key = schema_key_add(user=alice, organisation=org, name="clip", type="embedding", size=512)
    with pytest.raises(IntegrityError):
        MetadataKey.objects.filter(pk=key.pk).update(embedder="builtin_text")


def test_a_hard_delete_clears_the_embedder(alice, org):
    key = schema_key_add(user=alice, organisation=org, name="text", type="embedding", size=384,
                         embedder=EmbedderSpec(kind="builtin_text"))
    schema_key_hard_delete(user=alice, key=key)
    assert MetadataKey.objects.get(pk=key.pk).embedder == "none"


def test_the_schema_page_sets_an_embedder_and_shows_refusals(client, alice, bob, org):
    client.force_login(alice)
    key = schema_key_add(user=alice, organisation=org, name="clip", type="embedding", size=4)
    page = client.get("/metadata/schema/")
    assert b'class="embedder-form"' in page.content
    response = client.post(f"/metadata/schema/keys/{key.pk}/embedder", {
        "embedder": "http", "embedder_url": "https://embed.example.com/x", "embedder_inputs": ["text"],
        "embedder_timeout": "2.5"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ['Key "clip" now uses embedder: HTTP endpoint.']
    assert b"embedder: <code>https://embed.example.com/x</code> (text, 2.5 s)" in response.content
    key.refresh_from_db()
    assert (key.embedder, key.embedder_url, key.embedder_inputs, key.embedder_timeout) == (
        "http", "https://embed.example.com/x", ["text"], 2.5)

    response = client.post(f"/metadata/schema/keys/{key.pk}/embedder", {"embedder": "builtin_text"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert response.content.decode().lstrip().startswith('<div id="schema-panel">')  # the fragment htmx swaps in
    assert ('Key &quot;clip&quot; holds 4-d vectors; the built-in text model makes 384-d vectors, so it can only '
            "serve a key of size 384.") in response.content.decode()
    response = client.post(f"/metadata/schema/keys/{key.pk}/embedder", {"embedder": "http", "embedder_url": "x"})
    assert response.status_code == 400
    assert "The URL must be an absolute http:// or https:// URL" in response.context["error"]
    assert MetadataKey.objects.get(pk=key.pk).embedder_url == "https://embed.example.com/x"

    client.force_login(bob)
    assert client.post(f"/metadata/schema/keys/{key.pk}/embedder", {"embedder": "none"}).status_code == 403
    assert MetadataKey.objects.get(pk=key.pk).embedder == "http"
