"""The Explorer page's selection bar and action dialogs, server side: the "all matching" selection the page
hands its script (the page's own scope + filter + expression, safely embedded), the typed bulk-edit form,
the move destinations (folders one may edit, nothing from elsewhere), and the REST doors the page posts
to with its session: CSRF enforced, a viewer refused, an outsider shown nothing, hostile input a 400."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.test import Client

from apps.metadata.records import MetadataChange
from apps.storage.models import FolderRole, Item
from apps.storage.services.folders import folder_create, folder_member_set
from tests.explorer.fixtures import build
from tests.factories import OrganisationFactory

URL = "/explore/"
SCOPE = re.compile(r'<script id="selection-scope" type="application/json">(.*?)</script>', re.S)
MATCHING = re.compile(r'<data id="selection-matching" value="(\d+)" hidden>')
DESTINATIONS = re.compile(r'<select id="move-destination" required>(.*?)</select>', re.S)
OPTION = re.compile(r'<option value="([0-9a-f-]{36})">📁 ([^<]*)</option>')


@pytest.fixture
def world(org, make_user):
    admin = make_user(org, role="admin")
    folder_a, folder_b, sub, items = build(org, admin)
    return {"admin": admin, "a": folder_a, "b": folder_b, "sub": sub, "items": items, "org": org,
            "make_user": make_user}


def logged_in(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(html: str) -> str:
    return json.loads(unescape(re.search(r"hx-headers='([^']+)'", html).group(1)))["X-CSRFToken"]


def metadata(org) -> dict:
    return dict(Item.objects.filter(organisation=org).values_list("uuid", "client_metadata"))


def test_all_matching_is_the_pages_filter_and_the_session_door_edits_exactly_it(world):
    org = world["org"]
    client = logged_in(world["admin"])
    html = client.get(f"{URL}?folder={world['a'].pk}&sub=0&in:camera=cam1&in:camera=cam2&q=not+night").content.decode()

    scope = json.loads(SCOPE.search(html).group(1))
    assert scope == {"scope": {"folder": str(world["a"].pk), "recursive": False},
                     "filter": {"and": [{"key": "camera", "op": "in", "value": ["cam1", "cam2"]}]}, "q": "not night"}
    matching = {i.pk for i in world["items"] if i.folder_id == world["a"].pk
                and i.client_metadata.get("camera") in ("cam1", "cam2") and i.client_metadata.get("night") is not True}
    assert int(MATCHING.search(html).group(1)) == len(matching) > 0
    before = metadata(org)

    refused = client.post(f"/api/v1/explore/bulk-edit?organisation={org.pk}", {**scope, "set": {"site": "Rome"}},
                          content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    answer = client.post(f"/api/v1/explore/bulk-edit?organisation={org.pk}", {**scope, "set": {"site": "Rome"}},
                         content_type="application/json", headers={"X-CSRFToken": csrf_token(html)})

    assert answer.status_code == 200, answer.content
    assert answer.json()["matched"] == len(matching)
    assert metadata(org) == {pk: ({**m, "site": "Rome"} if pk in matching else m) for pk, m in before.items()}
    assert set(MetadataChange.objects.values_list("item_id", flat=True)) == matching


def test_the_bulk_edit_form_offers_a_typed_input_per_schema_type(world):
    html = logged_in(world["admin"]).get(URL).content.decode()

    keys = re.findall(r'<option value="([^"]+)" data-type="([^"]+)">', html)
    assert keys == [("camera", "enum"), ("captured", "datetime"), ("night", "boolean"), ("score", "number"),
                    ("site", "varchar")]
    inputs = dict(re.findall(r'<div class="edit-value" data-key="([^"]+)" data-type="[^"]+"(?: hidden)?>\s*'
                             r'<label[^>]*>[^<]*(?:<span[^>]*>[^<]*</span>)?</label>\s*<(\w+ type="[\w-]+"|select)', html))
    assert inputs == {"camera": "select", "captured": 'input type="datetime-local"', "night": "select",
                      "score": 'input type="number"', "site": 'input type="text"'}
    assert re.findall(r'<datalist id="edit-key-names">(.*?)</datalist>', html) == [
        "".join(f'<option value="{k}">' for k in ("camera", "captured", "night", "score", "site"))]


def test_move_destinations_are_the_folders_one_may_edit(world):
    org, admin = world["org"], world["admin"]
    editor = world["make_user"](org, role="member")
    folder_member_set(user=admin, folder=world["a"], member=editor, role=FolderRole.EDITOR)
    folder_member_set(user=admin, folder=world["b"], member=editor, role=FolderRole.VIEWER)
    other_org = OrganisationFactory(name="Elsewhere")
    folder_create(user=world["make_user"](other_org, role="admin"), name="theirs", organisation=other_org)

    def destinations(user) -> list[str]:
        html = logged_in(user).get(URL).content.decode()
        found = DESTINATIONS.search(html)
        return OPTION.findall(found.group(1)) if found else []

    assert destinations(editor) == [(str(world["a"].pk), "a"), (str(world["sub"].pk), "a / a-sub")]
    assert destinations(admin) == [(str(world["a"].pk), "a"), (str(world["sub"].pk), "a / a-sub"),
                                   (str(world["b"].pk), "b")]
    outsider = world["make_user"](org, role="member")
    html = logged_in(outsider).get(URL).content.decode()
    assert DESTINATIONS.search(html) is None and "You may not edit any folder of this organisation." in html
    assert int(MATCHING.search(html).group(1)) == 0


def test_a_viewer_is_refused_and_an_outsider_sees_nothing_through_the_pages_door(world):
    org, admin = world["org"], world["admin"]
    viewer = world["make_user"](org, role="member")
    folder_member_set(user=admin, folder=world["b"], member=viewer, role=FolderRole.VIEWER)
    in_b = [str(i.pk) for i in world["items"] if i.folder_id == world["b"].pk][:3]
    before = metadata(org)

    client = logged_in(viewer)
    token = csrf_token(client.get(URL).content.decode())

    def post(client, token, path, body):
        return client.post(f"/api/v1/explore/{path}?organisation={org.pk}", body, content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert post(client, token, "bulk-edit", {"items": in_b, "set": {"night": True}}).status_code == 403
    assert post(client, token, "trash", {"items": in_b}).status_code == 403
    assert post(client, token, "move", {"items": in_b, "destination": str(world["b"].pk)}).status_code == 403
    exported = post(client, token, "export", {"items": in_b, "format": "json"})
    assert exported.status_code == 200 and sorted(e["uuid"] for e in json.loads(b"".join(exported.streaming_content))) \
        == sorted(in_b)

    outsider = world["make_user"](org, role="member")
    client = logged_in(outsider)
    token = csrf_token(client.get(URL).content.decode())
    assert post(client, token, "export", {"items": in_b}).status_code == 404
    assert post(client, token, "bulk-edit", {"items": in_b, "set": {"night": True}}).status_code == 404
    assert metadata(org) == before and not Item.objects.filter(deleted_at__isnull=False).exists()
    assert MetadataChange.objects.count() == 0


@pytest.mark.parametrize("body, place", [
    ({"set": {"score": "high"}}, "set.score"),
    ({"set": {"camera": "cam9"}}, "set.camera"),
    ({"remove": ["k" * 300]}, "remove[0]"),
    ({"set": {"site": "a\u0000b"}}, "detail"),
    ({"merge": ["not", "an", "object"]}, "merge"),
    ({"set": {"night": True}, "q": "score >"}, "q"),
])
def test_hostile_edits_from_the_page_are_400s_that_change_nothing(world, body, place):
    org = world["org"]
    client = logged_in(world["admin"])
    html = client.get(URL).content.decode()
    scope = json.loads(SCOPE.search(html).group(1))
    before = metadata(org)

    answer = client.post(f"/api/v1/explore/bulk-edit?organisation={org.pk}", {**scope, **body},
                         content_type="application/json", headers={"X-CSRFToken": csrf_token(html)})

    assert answer.status_code == 400 and place in answer.json(), answer.content
    assert metadata(org) == before and MetadataChange.objects.count() == 0


def test_a_hostile_expression_is_embedded_as_data_not_markup(world):
    q = 'name = "</script><script>alert(1)</script>"'
    html = logged_in(world["admin"]).get(URL, {"q": q}).content.decode()

    assert "<script>alert(1)" not in html
    assert json.loads(SCOPE.search(html).group(1))["q"] == q
