"""Signed requests: the SDK's own signing code against Loupe's verification, and tampering refused.

A captured request replayed with a different body, query, method or an old ``created`` is a 401 and
changes nothing. Requests are made with ``requests`` over real HTTP to the live server.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from encord.configs import SshConfig
from encord.http.v2.request_signer import sign_request

from apps.core.services import api_token_create, public_key_add
from apps.encord_compat import signatures
from apps.storage.models import Folder, FolderRole, Item
from apps.storage.services.folders import folder_member_set
from tests.encord_compat.conftest import make_key
from tests.encord_compat.helpers import register_images


def _signed(method: str, url: str, private, *, body=None, params=None) -> requests.PreparedRequest:
    request = requests.Request(method, url, json=body, params=params).prepare()
    key_hex = private.public_key().public_bytes_raw().hex()
    return sign_request(request, key_hex, private)


def _send(prepared: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as session:
        return session.send(prepared, timeout=30)


@pytest.fixture
def base(live_server):
    return live_server.url + "/v2/public"


def test_signed_request_is_accepted(base, alice_key, folder):
    response = _send(_signed("GET", f"{base}/storage/folders/{folder.pk}", alice_key[1]))
    assert response.status_code == 200
    assert response.json()["name"] == "data"


def test_replayed_with_another_body_is_refused_and_nothing_changes(base, alice, alice_key, folder):
    (item,) = register_images(alice, folder, 1, metadata={"a": 1})
    url = f"{base}/storage/folders/{folder.pk}/items/{item.pk}"
    captured = _signed("PATCH", url, alice_key[1], body={"clientMetadata": {"a": 2}})
    tampered = captured.copy()
    tampered.prepare_body(None, None, json={"clientMetadata": {"a": 666}})
    for name in ("Content-Digest", "Signature-Input", "Signature"):
        tampered.headers[name] = captured.headers[name]

    refused = _send(tampered)

    assert refused.status_code == 401
    assert "Content-Digest" in refused.json()["message"]
    item.refresh_from_db()
    assert item.client_metadata == {"a": 1}
    # the same tampered body with a digest that matches it: the signature no longer verifies
    tampered.headers["Content-Digest"] = signatures.content_digest(tampered.body)
    assert _send(tampered).status_code == 401
    item.refresh_from_db()
    assert item.client_metadata == {"a": 1}
    assert _send(captured).status_code == 200  # the genuine request still works
    item.refresh_from_db()
    assert item.client_metadata == {"a": 2}


def test_replayed_with_another_query_is_refused(base, alice, alice_key, folder):
    register_images(alice, folder, 3)
    captured = _signed("GET", f"{base}/storage/folders/{folder.pk}/items", alice_key[1], params={"pageSize": 1})
    assert len(_send(captured).json()["results"]) == 1
    tampered = captured.copy()
    tampered.url = captured.url.replace("pageSize=1", "pageSize=3")

    response = _send(tampered)

    assert response.status_code == 401
    assert "signature does not verify" in response.json()["message"]


def test_another_method_is_refused(base, alice_key, folder):
    captured = _signed("GET", f"{base}/storage/folders/{folder.pk}", alice_key[1])
    tampered = captured.copy()
    tampered.method = "DELETE"
    assert _send(tampered).status_code == 401
    folder.refresh_from_db()
    assert folder.deleted_at is None


def test_stale_created_is_refused(base, alice_key, folder, monkeypatch):
    import encord.http.v2.request_signer as signer

    class Then:
        @staticmethod
        def now():
            from datetime import datetime
            return datetime.fromtimestamp(time.time() - signatures.MAX_AGE_S - 5)

    monkeypatch.setattr(signer, "datetime", Then)
    response = _send(_signed("GET", f"{base}/storage/folders/{folder.pk}", alice_key[1]))
    assert response.status_code == 401
    assert "stale" in response.json()["message"]


def test_unknown_key_is_refused(base, folder, tmp_path):
    _, _, stranger = make_key(tmp_path, "stranger")
    response = _send(_signed("GET", f"{base}/storage/folders/{folder.pk}", stranger))
    assert response.status_code == 401
    assert "Unknown public key" in response.json()["message"]


def test_no_credentials_is_401(base, folder):
    assert requests.get(f"{base}/storage/folders/{folder.pk}", timeout=30).status_code == 401


def test_bearer_token_works_with_the_sdk(live_server, alice, folder):
    from encord import EncordUserClient

    token = api_token_create(user=alice, name="sdk")[1]
    client = EncordUserClient.create_with_bearer_token(token, domain=live_server.url)
    assert [f.name for f in client.list_storage_folders()] == ["data"]


def test_permissions_are_loupes(live_server, org, make_user, alice, folder, tmp_path):
    """An outsider sees nothing (404); a viewer can read but not write (403), through the SDK."""
    from encord import EncordUserClient
    from encord.exceptions import AuthorisationError, ResourceNotFoundError

    (item,) = register_images(alice, folder, 1, metadata={"a": 1})
    bob = make_user(org, email="bob@example.com")
    path, public_line, _ = make_key(tmp_path, "bob")
    public_key_add(user=bob, openssh=public_line)
    client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=str(path), domain=live_server.url)

    with pytest.raises(ResourceNotFoundError):
        client.get_storage_folder(folder.pk)
    assert list(client.list_storage_folders()) == []

    folder_member_set(user=alice, folder=folder, member=bob, role=FolderRole.VIEWER)
    seen = client.get_storage_item(item.pk)
    assert seen.client_metadata == {"a": 1}
    with pytest.raises(AuthorisationError):
        seen.update(client_metadata={"a": 2})
    with pytest.raises(AuthorisationError):
        client.create_storage_folder("bobs", parent_folder=folder.pk)
    item.refresh_from_db()
    assert item.client_metadata == {"a": 1}
    assert Folder.objects.filter(name="bobs").count() == 0


def test_legacy_rpc_signed_by_the_sdk(live_server, alice_key, org):
    from apps.storage.services.integrations import integration_builtin_get_or_create

    builtin = integration_builtin_get_or_create(organisation=org)
    config = SshConfig(alice_key[1], domain=live_server.url)
    body = json.dumps({"query_type": "cloudintegration", "query_method": "GET", "values": {"uid": None,
                                                                                          "payload": None}})
    headers = config.define_headers(None, None, body)

    ok = requests.post(f"{live_server.url}/public", data=body, headers=headers, timeout=30)
    assert ok.status_code == 200
    assert ok.json() == {"status": 200, "response": [{"id": str(builtin.pk), "title": builtin.name}]}

    tampered = requests.post(f"{live_server.url}/public", data=body.replace("GET", "get"), headers=headers,
                             timeout=30)
    assert tampered.status_code == 401
    assert tampered.json()["response"] == ["AUTHENTICATION_ERROR"]


def test_cloud_integrations_list_the_ids(live_server, alice, alice_key, org):
    from encord import EncordUserClient

    from apps.storage.services.integrations import integration_builtin_get_or_create

    builtin = integration_builtin_get_or_create(organisation=org)
    client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=str(alice_key[0]),
                                                          domain=live_server.url)
    assert [(i.id, i.title) for i in client.get_cloud_integrations()] == [(str(builtin.pk), builtin.name)]


def test_routes_have_no_trailing_slash_redirects(base, alice_key, folder):
    response = _send(_signed("GET", f"{base}/storage/folders/{folder.pk}/", alice_key[1]))
    assert response.status_code == 404
    assert not response.history


def test_objects_carry_every_field_the_sdk_requires(base, alice, alice_key, folder):
    from encord.orm.storage import StorageFolder as FolderModel
    from encord.orm.storage import StorageItem as ItemModel

    (item,) = register_images(alice, folder, 1)
    body = _send(_signed("GET", f"{base}/storage/items/{item.pk}", alice_key[1])).json()
    for name, field in ItemModel.model_fields.items():
        assert field.alias in body, field.alias
    assert isinstance(body["clientMetadata"], str)
    folder_body = _send(_signed("GET", f"{base}/storage/folders/{folder.pk}", alice_key[1])).json()
    for name, field in FolderModel.model_fields.items():
        assert field.alias in folder_body, field.alias
    assert Item.objects.count() == 1


def test_legacy_rpc_without_credentials_is_401(live_server, transactional_db):
    """``/public`` authenticates itself (no login redirect) and refuses an unsigned call."""
    for path in ("/public", "/public/user"):
        response = requests.post(f"{live_server.url}{path}", data=b"{}", allow_redirects=False, timeout=30)
        assert response.status_code == 401
        assert response.json()["response"] == ["AUTHENTICATION_ERROR"]


def test_bad_upload_bodies_are_400_and_start_nothing(base, alice_key, folder):
    from apps.storage.models import ImportJob

    url = f"{base}/storage/folders/{folder.pk}/data-upload-jobs"
    for body, expected in [({"externalFiles": "{not json"}, "not valid JSON"),
                           ({}, "exactly one of externalFiles and dataItems"),
                           ({"dataItems": {"scenes": [{"title": "s"}]}}, "does not register scenes"),
                           ({"externalFiles": [1, 2]}, "must be a JSON object")]:
        response = _send(_signed("POST", url, alice_key[1], body=body))
        assert response.status_code == 400, body
        assert expected in response.json()["message"]
    assert ImportJob.objects.count() == 0


def test_oversized_body_is_a_413_the_sdk_shows(base, alice_key, folder, settings):
    from apps.storage.models import ImportJob

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"externalFiles": {"images": [{"objectUrl": f"https://cdn.example.com/{n}.jpg"} for n in range(500)]}}
    response = _send(_signed("POST", f"{base}/storage/folders/{folder.pk}/data-upload-jobs", alice_key[1], body=body))

    assert response.status_code == 413
    assert "the limit is 10,000" in response.json()["message"]
    assert ImportJob.objects.count() == 0


def test_a_replayed_write_gets_the_first_answer_and_runs_once(base, alice, alice_key, folder):
    from apps.metadata.records import MetadataChange

    (item,) = register_images(alice, folder, 1, metadata={"a": 1})
    write = _signed("PATCH", f"{base}/storage/folders/{folder.pk}/items/{item.pk}", alice_key[1],
                    body={"clientMetadata": {"a": 2}})
    read = _signed("GET", f"{base}/storage/items/{item.pk}", alice_key[1])

    first = _send(write)
    replayed = _send(write)

    assert (first.status_code, first.content) == (200, replayed.content)
    assert replayed.status_code == 200
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert MetadataChange.objects.filter(item=item).count() == 1
    assert [_send(read).status_code for _ in range(2)] == [200, 200]  # reads run each time


def test_a_refused_write_may_be_sent_again(base, alice, org, alice_key, folder):
    """A refusal (4xx) is the request's answer: the identical request gets it again, and nothing changes."""
    from tests.encord_compat.helpers import schema_add

    schema_add(alice, org, score="number")
    (item,) = register_images(alice, folder, 1)
    write = _signed("PATCH", f"{base}/storage/folders/{folder.pk}/items/{item.pk}", alice_key[1],
                    body={"clientMetadata": {"score": "high"}})
    assert [_send(write).status_code for _ in range(2)] == [400, 400]


def test_malformed_created_is_a_401(base, alice_key, folder):
    prepared = _signed("GET", f"{base}/storage/folders/{folder.pk}", alice_key[1])
    prepared.headers["Signature-Input"] = re.sub(r"created=\d+", 'created="abc"', prepared.headers["Signature-Input"])
    response = _send(prepared)
    assert response.status_code == 401
    assert "created" in response.json()["message"]


def test_foreign_or_tampered_page_tokens_are_400(base, alice, alice_key, folder):
    import base64

    register_images(alice, folder, 3)
    url = f"{base}/storage/folders/{folder.pk}/items"
    first = _send(_signed("GET", url, alice_key[1], params={"pageSize": 1})).json()
    token = first["nextPageToken"]
    assert _send(_signed("GET", url, alice_key[1], params={"pageSize": 1, "pageToken": token})).status_code == 200
    forged = base64.urlsafe_b64encode(b'["created_at", "notadate", "00000000-0000-4000-8000-000000000000"]').decode()
    for params in ({"pageToken": token, "order": "createdAt"}, {"pageToken": "garbage"},
                   {"pageToken": forged, "order": "createdAt"}):
        response = _send(_signed("GET", url, alice_key[1], params=params))
        assert response.status_code == 400, params
        assert "pageToken" in response.json()["message"]
