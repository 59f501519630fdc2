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
    "/admin/explorer/savedview/",
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


def _members_post(org, rows, *, delete=(), roles=None) -> dict:
    """The organisation change form's data with its members inline, as the admin page posts it."""
    roles = roles or {}
    data = {"name": org.name, "members-TOTAL_FORMS": str(len(rows)), "members-INITIAL_FORMS": str(len(rows)),
            "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000"}
    for n, row in enumerate(rows):
        data |= {f"members-{n}-id": str(row.pk), f"members-{n}-organisation": str(org.pk),
                 f"members-{n}-user": str(row.user_id), f"members-{n}-role": roles.get(row.user_id, row.role)}
        if row.user_id in delete:
            data[f"members-{n}-DELETE"] = "on"
    return data


@pytest.mark.parametrize("change", ["delete", "demote"])
def test_admin_keeps_an_organisations_last_admin(admin_client, org, make_user, change):
    """The members page's rule holds in the Django admin too: the last admin stays an admin."""
    from apps.core.models import OrganisationMember

    client, _ = admin_client
    boss = make_user(org, role="admin", email="boss@example.com")
    make_user(org, email="staff@example.com")
    rows = list(OrganisationMember.objects.filter(organisation=org).order_by("pk"))
    before = sorted(OrganisationMember.objects.filter(organisation=org).values_list("user__email", "role"))
    data = _members_post(org, rows, delete={boss.pk} if change == "delete" else (),
                         roles={boss.pk: "member"} if change == "demote" else None)

    response = client.post(f"/admin/core/organisation/{org.pk}/change/", data)

    assert response.status_code == 200  # the form again, with the error
    assert "An organisation keeps at least one admin" in response.content.decode()
    after = sorted(OrganisationMember.objects.filter(organisation=org).values_list("user__email", "role"))
    assert after == before


def test_admin_may_remove_an_admin_when_another_remains(admin_client, org, make_user):
    from apps.core.models import OrganisationMember

    client, _ = admin_client
    boss = make_user(org, role="admin", email="boss@example.com")
    make_user(org, role="admin", email="deputy@example.com")
    rows = list(OrganisationMember.objects.filter(organisation=org).order_by("pk"))
    data = _members_post(org, rows, delete={boss.pk})

    response = client.post(f"/admin/core/organisation/{org.pk}/change/", data)

    assert response.status_code == 302
    assert list(OrganisationMember.objects.filter(organisation=org).values_list("user__email", "role")) == [
        ("deputy@example.com", "admin")]
