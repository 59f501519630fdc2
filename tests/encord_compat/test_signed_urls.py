"""``signedUrl``: a link the SDK user can download without credentials, for every kind of storage."""

from __future__ import annotations

import requests
from encord import EncordUserClient

from apps.storage.services.items import items_trash
from tests import media_factory as media
from tests.encord_compat.helpers import image_entry, register


def _client(live_server, alice_key) -> EncordUserClient:
    return EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=str(alice_key[0]),
                                                        domain=live_server.url)


def test_local_file_gets_a_time_limited_link(live_server, alice, alice_key, folder, test_files):
    path = media.make_jpeg(test_files / "local.jpg", size=(20, 10))
    local, remote = register(alice, folder, {"images": [
        {"objectUrl": path.as_uri(), "title": "local.jpg"}, image_entry(1)]})
    client = _client(live_server, alice_key)

    signed = client.get_storage_item(local.pk, sign_url=True).get_signed_url()
    assert signed.startswith(f"{live_server.url}/items/signed/")
    response = requests.get(signed, timeout=30)  # no credentials at all
    assert response.status_code == 200
    assert response.content == path.read_bytes()
    assert client.get_storage_item(remote.pk).get_signed_url() == "https://cdn.example.com/img/1.jpg"
    bulk = client.get_storage_items([local.pk, remote.pk], sign_url=True)
    assert bulk[0].get_signed_url().startswith(f"{live_server.url}/items/signed/")
    assert bulk[1].get_signed_url() == "https://cdn.example.com/img/1.jpg"

    altered = signed[:-3] + ("aaa" if not signed.endswith("aaa") else "bbb")
    assert requests.get(altered, timeout=30).status_code == 404
    items_trash(user=alice, items=[local])
    assert requests.get(signed, timeout=30).status_code == 404  # trashed: the link stops working


def test_a_signed_link_is_the_callers_and_ends_with_their_access(live_server, alice, alice_key, folder, test_files):
    """The link names the SDK user it was issued to: once they leave the organisation it is dead."""
    from apps.core.models import OrganisationMember

    path = media.make_jpeg(test_files / "mine.jpg", size=(20, 10))
    (item,) = register(alice, folder, {"images": [{"objectUrl": path.as_uri(), "title": "mine.jpg"}]})
    signed = _client(live_server, alice_key).get_storage_item(item.pk, sign_url=True).get_signed_url()
    assert requests.get(signed, timeout=30).content == path.read_bytes()

    OrganisationMember.objects.filter(user=alice).delete()

    assert requests.get(signed, timeout=30).status_code == 404
