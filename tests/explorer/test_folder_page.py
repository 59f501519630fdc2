"""The folder page is the Explorer scoped to the folder: the same filters, sort, paging and count as
``/explore/``, the folder's own items unless "include subfolders" is ticked, a header for browsing, and
the folder's administration on its own settings page. Also the item page's previous/next through the
result it was opened from, and through a group's members."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from apps.storage.models import Folder, FolderRole, Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_member_set
from tests.explorer.fixtures import build
from tests.explorer.test_explore_page import COUNT, ITEM, page_of
from tests.explorer.test_search_api import number

PREV = re.compile(r'id="item-prev" rel="prev" href="([^"]+)"')
NEXT = re.compile(r'id="item-next" rel="next" href="([^"]+)"')


@pytest.fixture
def world(org, make_user):
    admin = make_user(org, role="admin")
    folder_a, folder_b, sub, items = build(org, admin)
    people = {role: make_user(org, email=f"{role}@example.com") for role in ("viewer", "editor", "fadmin")}
    for role, user in people.items():
        folder_member_set(user=admin, folder=folder_a, member=user,
                          role=FolderRole("admin" if role == "fadmin" else role))
    return {"admin": admin, "a": folder_a, "b": folder_b, "sub": sub, "items": items, "org": org, **people}


def as_user(client, user):
    client.force_login(user)
    return client


def uuids(items, rule=lambda i: True) -> set[str]:
    return {str(i.pk) for i in items if rule(i)}


def test_the_folder_page_lists_its_own_items_and_with_sub_its_subfolders(client, world):
    a, sub, items = world["a"], world["sub"], world["items"]
    client = as_user(client, world["viewer"])
    url = a.get_absolute_url()

    shown, more, count = page_of(client.get(url))
    assert (url, count, len(shown), more) == (f"/folders/{a.pk}/", 67, 60, f"{url}?after=" + more.split("after=")[1])
    rest, more_again, _ = page_of(client.get(more, headers={"HX-Request": "true", "HX-Target": "load-more"}))
    assert (set(shown + rest), more_again) == (uuids(items, lambda i: i.folder_id == a.pk), None)

    _, _, with_sub = page_of(client.get(url + "?sub=1"))
    assert with_sub == 67 + 66 == len(uuids(items, lambda i: i.folder_id in (a.pk, sub.pk)))


def test_the_folder_page_takes_the_explorer_filters_sort_and_pushes_its_own_url(client, world):
    a, items = world["a"], world["items"]
    client = as_user(client, world["viewer"])
    query = "?in:camera=cam1&in:camera=cam2&sort=key:score&dir=asc&q=not+night"
    rule = lambda i: (i.folder_id == a.pk and i.client_metadata.get("camera") in ("cam1", "cam2")  # noqa: E731
                      and i.client_metadata.get("night") is not True)

    response = client.get(a.get_absolute_url() + query, headers={"HX-Request": "true", "HX-Target": "results"})

    shown, _, count = page_of(response)
    assert (count, set(shown)) == (len(uuids(items, rule)), uuids(items, rule))
    scored = sorted((i.client_metadata["score"], str(i.pk)) for i in items
                    if rule(i) and number(i.client_metadata.get("score")))
    assert shown[:len(scored)] == [pk for _, pk in scored]
    assert response["HX-Push-Url"] == (f"/folders/{a.pk}/?in%3Acamera=cam1&in%3Acamera=cam2&sort=key%3Ascore"
                                       "&dir=asc&q=not+night")


def test_a_page_token_in_the_url_shows_that_page_with_a_link_to_the_first(client, world):
    a = world["a"]
    client = as_user(client, world["viewer"])
    first, more, _ = page_of(client.get(a.get_absolute_url()))

    html = client.get(more).content.decode()

    assert ITEM.findall(html) == [pk for pk in ITEM.findall(html) if pk not in first] and len(ITEM.findall(html)) == 7
    assert f'<a href="/folders/{a.pk}/" id="first-page">back to the first page</a>' in html


def test_viewer_browses_without_settings_editor_and_admin_get_their_settings(client, world):
    a = world["a"]
    settings_url = f"/folders/{a.pk}/settings/"

    viewer_page = as_user(client, world["viewer"]).get(a.get_absolute_url()).content.decode()
    assert 'id="folder-settings"' not in viewer_page and 'id="add-data"' not in viewer_page
    assert 'id="rename-form"' not in viewer_page and f'action="/folders/{a.pk}/delete"' not in viewer_page
    assert client.get(settings_url).status_code == 403
    assert client.post(f"/folders/{a.pk}/rename", {"name": "x"}).status_code == 403

    editor_page = as_user(client, world["editor"]).get(a.get_absolute_url()).content.decode()
    assert f'<a id="folder-settings" class="button small" href="{settings_url}"' in editor_page
    editor_settings = client.get(settings_url).content.decode()
    assert 'id="rename-form"' in editor_settings and 'id="move-form"' in editor_settings
    assert 'id="member-form"' not in editor_settings and f'action="/folders/{a.pk}/delete"' not in editor_settings

    admin_settings = as_user(client, world["fadmin"]).get(settings_url).content.decode()
    assert 'id="member-form"' in admin_settings and f'action="/folders/{a.pk}/delete"' in admin_settings


def test_settings_actions_keep_their_permissions_and_return_to_the_settings_page(client, world):
    a = world["a"]
    editor = as_user(client, world["editor"])

    response = editor.post(f"/folders/{a.pk}/rename", {"name": "renamed", "description": "d"})
    assert (response.status_code, response["Location"]) == (302, f"/folders/{a.pk}/settings/")
    a.refresh_from_db()
    assert (a.name, a.description) == ("renamed", "d")
    assert editor.post(f"/folders/{a.pk}/delete").status_code == 403
    assert editor.post(f"/folders/{a.pk}/members", {"email": "viewer@example.com", "role": "editor"}).status_code == 403

    admin = as_user(client, world["fadmin"])
    response = admin.post(f"/folders/{a.pk}/members", {"email": "viewer@example.com", "role": "editor"},
                          headers={"HX-Request": "true"})
    assert (response.status_code, response["HX-Redirect"]) == (204, f"/folders/{a.pk}/settings/")
    response = admin.post(f"/folders/{a.pk}/delete")
    assert (response.status_code, response["Location"]) == (302, "/")
    assert Folder.objects.get(pk=a.pk).deleted_at is not None


def test_an_outsider_gets_404_for_the_folder_page_its_settings_and_items(client, world, make_user):
    outsider = as_user(client, make_user(world["org"], email="outsider@example.com"))
    a = world["a"]
    item = next(i for i in world["items"] if i.folder_id == a.pk)
    for url in (a.get_absolute_url(), f"/folders/{a.pk}/settings/", f"/folders/{a.pk}/?sub=1&after=x",
                f"/items/{item.pk}/?from=" + a.get_absolute_url()):
        assert outsider.get(url).status_code == 404, url


@pytest.mark.parametrize("query", [
    "?q=score+%3E", "?after=garbage", "?after=" + "A" * 50_000, "?folder=not-a-uuid", "?folder=" + "0" * 32,
    "?sub=maybe&sub=", "?min:score=abc&max:score=1e999", "?min:captured=yesterday", "?sort=key:nope&dir=sideways",
    "?view=3d&col=key:x&col=field:nope", "?in:camera=cam9", "?q=" + "(" * 5000, "?text:site=" + "x" * 10_000,
])
def test_hostile_queries_on_the_folder_page_answer_200(client, world, query):
    response = as_user(client, world["viewer"]).get(world["a"].get_absolute_url() + query)
    assert response.status_code == 200


def test_the_item_page_walks_the_filtered_sorted_result_it_was_opened_from(client, world):
    a, items = world["a"], world["items"]
    client = as_user(client, world["viewer"])
    origin = f"/folders/{a.pk}/?in:camera=cam3&sort=key:score&dir=asc"
    rule = lambda i: i.folder_id == a.pk and i.client_metadata.get("camera") == "cam3"  # noqa: E731
    present = sorted((i.client_metadata["score"], str(i.pk)) for i in items
                     if rule(i) and number(i.client_metadata.get("score")))
    order = [pk for _, pk in present] + sorted(str(i.pk) for i in items
                                              if rule(i) and not number(i.client_metadata.get("score")))
    listing = page_of(client.get(origin))[0]
    assert listing == order  # the walk below is the order the page shows

    walked, url = [order[0]], f"/items/{order[0]}/?{urlencode({'from': origin})}"
    html = client.get(url).content.decode()
    assert PREV.search(html) is None and f'id="item-back" href="{origin}"' in unescape(html)
    while (found := NEXT.search(html)) is not None:
        url = unescape(found.group(1))
        assert parse_qs(urlsplit(url).query)["from"] == [origin]
        walked.append(urlsplit(url).path.split("/")[2])
        html = client.get(url).content.decode()
    assert walked == order
    back = unescape(PREV.search(html).group(1))
    assert urlsplit(back).path == f"/items/{order[-2]}/"


def test_the_item_page_shows_no_walk_for_an_item_outside_the_result_or_a_foreign_origin(client, world):
    a, items = world["a"], world["items"]
    client = as_user(client, world["viewer"])
    outside = next(i for i in items if i.folder_id == a.pk and i.client_metadata.get("camera") != "cam3")
    for origin in (f"/folders/{a.pk}/?in:camera=cam3", "https://evil.example/explore/", "//evil.example/explore/",
                   "javascript:alert(1)", "/trash/", "/explore/?q=score+%3E",
                   "/explore/?folder=" + str(world["b"].pk), "%00", "/folders/not-a-uuid/"):
        html = client.get(f"/items/{outside.pk}/?{urlencode({'from': origin})}").content.decode()
        assert 'id="item-walk"' not in html, origin


def test_the_explorer_walk_crosses_pages_and_sees_subfolders(client, world):
    items, org = world["items"], world["org"]
    client = as_user(client, world["admin"])
    first, more, _ = page_of(client.get(f"/explore/?organisation={org.pk}"))
    second, _, _ = page_of(client.get(more))
    origin = f"/explore/?organisation={org.pk}"

    html = client.get(f"/items/{first[-1]}/?{urlencode({'from': origin})}").content.decode()

    assert urlsplit(unescape(NEXT.search(html).group(1))).path == f"/items/{second[0]}/"
    assert len(items) == 200


def test_a_group_member_walks_through_its_group(client, world):
    a = world["a"]
    group = Item.objects.create(organisation=world["org"], folder=a, item_type=ItemType.IMAGE_GROUP, name="g1",
                                status=ItemStatus.READY)
    members = [Item.objects.create(organisation=world["org"], folder=a, parent=group, position=n,
                                   item_type=ItemType.IMAGE, name=f"/data/g1/{n}%20b.jpg",
                                   url=f"https://host/data/g1/{n}%20b.jpg", status=ItemStatus.READY)
               for n in range(3)]
    client = as_user(client, world["viewer"])

    html = client.get(members[1].get_absolute_url()).content.decode()

    assert PREV.search(html).group(1) == members[0].get_absolute_url()
    assert NEXT.search(html).group(1) == members[2].get_absolute_url()
    assert '<h1 id="item-title" title="/data/g1/1%20b.jpg">1 b.jpg</h1>' in html
    last = client.get(members[2].get_absolute_url()).content.decode()
    assert NEXT.search(last) is None and PREV.search(last).group(1) == members[1].get_absolute_url()


def test_untitled_items_show_their_file_name_on_tiles(client, world):
    a = world["a"]
    Item.objects.create(organisation=world["org"], folder=a, item_type=ItemType.IMAGE, status=ItemStatus.READY,
                        name="/very/long/path/to/cam%203/frame_0001.jpg",
                        url="s3://bucket/very/long/path/to/cam%203/frame_0001.jpg")
    Item.objects.create(organisation=world["org"], folder=a, item_type=ItemType.IMAGE, status=ItemStatus.READY,
                        name="left/right", url="https://host/x.jpg")
    client = as_user(client, world["viewer"])

    html = client.get(a.get_absolute_url() + "?text:$name=/").content.decode()

    names = re.findall(r'<div class="item-name">([^<]*)</div>', html)
    assert sorted(names) == ["cam 3/frame_0001.jpg".split("/")[1], "left/right"]
    assert int(COUNT.search(html).group(1)) == 2
