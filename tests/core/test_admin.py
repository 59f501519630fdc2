"""The Django admin: every Loupe model has a working page, and admin writes go through services."""

from __future__ import annotations

import pytest

from apps.core.crypto import decrypt
from apps.storage.models import Folder, StorageIntegration
from apps.storage.services.folders import folder_create


@pytest.fixture
def admin_client(client, db):
    from apps.core.models import User

    user = User.objects.create_superuser(email="root@example.com", password="pw-for-tests-1")
    client.force_login(user)
    return client, user


@pytest.mark.parametrize("path", [
    "/admin/core/user/", "/admin/core/organisation/", "/admin/core/apitoken/", "/admin/core/publickey/",
    "/admin/storage/folder/", "/admin/storage/item/", "/admin/storage/importjob/",
    "/admin/storage/storageintegration/", "/admin/storage/storageintegration/add/",
])
def test_admin_pages_render(admin_client, path):
    client, _ = admin_client
    assert client.get(path).status_code == 200


def test_admin_trash_and_restore_folder(admin_client):
    from apps.core.services import organisation_default_get_or_create

    client, user = admin_client
    folder = folder_create(user=user, name="raw", organisation=organisation_default_get_or_create())
    response = client.post("/admin/storage/folder/", {"action": "move_to_trash", "_selected_action": [folder.pk]})
    assert response.status_code == 302
    assert Folder.objects.get(pk=folder.pk).deleted_at is not None
    client.post("/admin/storage/folder/", {"action": "restore", "_selected_action": [folder.pk]})
    assert Folder.objects.get(pk=folder.pk).deleted_at is None


def test_admin_integration_credentials_are_stored_encrypted(admin_client):
    from apps.core.services import organisation_default_get_or_create

    client, _ = admin_client
    org = organisation_default_get_or_create()
    response = client.post("/admin/storage/storageintegration/add/", {
        "organisation": org.pk, "name": "bucket", "kind": "s3", "endpoint_url": "http://127.0.0.1:9000",
        "region": "eu-west-1", "access_key_id": "AKIA123", "secret_access_key": "s3cr3t",
    })
    assert response.status_code == 302, response.content
    integration = StorageIntegration.objects.get(name="bucket")
    assert "s3cr3t" not in integration.secret_access_key_encrypted
    assert (decrypt(integration.access_key_id_encrypted), decrypt(integration.secret_access_key_encrypted)) == (
        "AKIA123", "s3cr3t")
