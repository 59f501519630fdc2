"""Signed content links issued to a user stop working the moment that user may no longer read the item."""

from __future__ import annotations

import pytest
import requests

from apps.core.models import OrganisationMember, User
from apps.storage.models import FolderRole, Item, ItemType
from apps.storage.services.folders import folder_create, folder_member_set
from apps.storage.signed_links import item_content_token


@pytest.fixture
def linked(transactional_db, org, make_user, live_server, test_files):
    owner = make_user(org, email="owner@example.com")
    reader = make_user(org, email="reader@example.com")
    folder = folder_create(user=owner, name="top", organisation=org)
    folder_member_set(user=owner, folder=folder, member=reader, role=FolderRole.VIEWER)
    (test_files / "a.txt").write_text("hello")
    item = Item.objects.create(organisation=org, folder=folder, item_type=ItemType.TEXT, name="a.txt",
                               url=(test_files / "a.txt").as_uri(), mime_type="text/plain")
    return {"reader": reader, "org": org, "url": lambda token: f"{live_server.url}/items/signed/{token}",
            "item": item}


@pytest.mark.parametrize("removal", ["organisation_membership_deleted", "user_deactivated"])
def test_a_users_link_ends_with_their_access(linked, removal):
    link = linked["url"](item_content_token(linked["item"].pk, linked["reader"].pk))
    assert (requests.get(link, timeout=30).status_code, requests.get(link, timeout=30).content) == (200, b"hello")

    if removal == "organisation_membership_deleted":
        OrganisationMember.objects.filter(user=linked["reader"]).delete()
    else:
        User.objects.filter(pk=linked["reader"].pk).update(is_active=False)

    assert requests.get(link, timeout=30).status_code == 404


def test_a_link_that_names_no_user_is_refused(linked):
    """Links always name the user they were issued to; one without (issued before they did) is dead."""
    from django.core import signing

    from apps.storage.signed_links import SALT

    userless = signing.TimestampSigner(salt=SALT).sign(str(linked["item"].pk))
    assert requests.get(linked["url"](userless), timeout=30).status_code == 404
