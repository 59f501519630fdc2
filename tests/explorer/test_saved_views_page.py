"""Saved views from the Explorer page, through Django's test client: save the page's state, open it as the
same page (the copied-link form of the state), the saved-views page with rename and delete, and who may
do what (owner, another member, org admin, outsider); hostile input is a 400 that saves nothing."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.http import QueryDict

from apps.explorer.forms import canonical_query
from apps.explorer.models import SavedView
from apps.explorer.services_views import saved_view_create
from tests.explorer.test_explore_page import ITEM, world  # noqa: F401 (world: the shared fixture)
from tests.factories import OrganisationFactory

SAVE = "/explore/views/save"
PAGE = "/explore/views/"
STATE = ("organisation={org}&folder={a}&in:camera=cam1&in:camera=cam3&min:score=0.25&max:score=0.9&is:night=false"
         "&has:site=no&text:$name=frame-0&match:$name=prefix&min:captured=2026-11-02T00:00&anykey=speed&anyop=contains"
         "&anyval=km&q=not+night&sort=key:score&dir=asc&view=table&col=field:name&col=key:camera")


def state(world) -> str:
    return STATE.format(org=world["org"].pk, a=world["a"].pk)


def save(client, world, query: str, name: str = "Cam 1 and 3", shared: bool = False, **headers):
    data = {"organisation": str(world["org"].pk), "query": query, "name": name, **({"shared": "1"} if shared else {})}
    return client.post(SAVE, data, headers=headers)


def opened(client, view: SavedView) -> str:
    """The page query the view opens as (its ``open`` link redirects to the Explorer page)."""
    response = client.get(f"/explore/views/{view.pk}/open")
    assert response.status_code == 302, response.content[:300]
    url = urlsplit(response["Location"])
    assert url.path == "/explore/"
    return url.query


def test_saving_the_page_state_and_opening_it_gives_the_same_page(client, world):
    client.force_login(world["admin"])
    query = canonical_query(QueryDict(state(world)))

    response = save(client, world, query)

    view = SavedView.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/explore/views/{view.pk}/open"
    assert (view.name, view.shared, view.owner, view.scope_folder, view.recursive, view.q, view.layout) == \
        ("Cam 1 and 3", False, world["admin"], world["a"], True, "not night", "table")
    assert view.sort == [{"key": "score", "desc": False}]
    assert view.columns == [{"field": "name"}, {"key": "camera"}]
    assert view.filter == {"and": [
        {"field": "name", "op": "prefix", "value": "frame-0"},
        {"key": "camera", "op": "in", "value": ["cam1", "cam3"]},
        {"key": "captured", "op": "gte", "value": "2026-11-02T00:00"},
        {"key": "night", "op": "eq", "value": False},
        {"key": "score", "op": "gte", "value": 0.25}, {"key": "score", "op": "lte", "value": 0.9},
        {"key": "site", "op": "missing"},
        {"key": "speed", "op": "contains", "value": "km"},
    ]}
    # Opening shows the same controls: the same query string, parameter for parameter.
    assert sorted(parse_qsl(opened(client, view))) == sorted(parse_qsl(query))

    # And the opened page lists what the saved page listed, in the same order.
    loose = f"organisation={world['org'].pk}&in:camera=cam1&anykey=speed&sort=key:score&dir=asc"
    save(client, world, loose, name="Loose")
    items = ITEM.findall(client.get(f"/explore/?{loose}").content.decode())
    again = client.get(f"/explore/?{opened(client, SavedView.objects.get(name='Loose'))}").content.decode()
    expected = sum(i.client_metadata.get("camera") == "cam1" and "speed" in i.client_metadata for i in world["items"])
    assert len(items) == expected == 16 and ITEM.findall(again) == items


def test_an_htmx_save_redirects_and_a_refused_one_shows_the_form_again(client, world):
    client.force_login(world["admin"])
    response = save(client, world, "in:camera=cam2", name="Two", **{"HX-Request": "true"})
    view = SavedView.objects.get()
    assert response.status_code == 204 and response["HX-Redirect"] == f"/explore/views/{view.pk}/open"

    taken = save(client, world, "in:camera=cam4", name=" two ", **{"HX-Request": "true"})
    assert taken.status_code == 400
    html = unescape(taken.content.decode())
    assert 'You already have a saved view named "two" in this organisation.' in html
    assert 'value="in:camera=cam4"' in html and html.lstrip().startswith('<form id="save-view-form"')
    assert SavedView.objects.count() == 1


@pytest.mark.parametrize("query, name, message", [
    ("q=score+%3E", "x", "q: At position 7: expected a value"),
    ("min:score=abc", "x", "min:score: Not a number: 'abc'."),
    ("anykey=%24x", "x", 'filter.and[0]: Not a metadata key name: A key name cannot start with "$".'),
    ("folder=00000000-0000-0000-0000-000000000000", "x", "scope.folder: No such folder"),
    ("in:camera=cam1", "", "A saved view needs a name."),
    ("in:camera=cam1", "n" * 201, "A name has at most 200 characters."),
])
def test_hostile_saves_are_400_and_save_nothing(client, world, query, name, message):
    client.force_login(world["admin"])
    response = save(client, world, query, name=name)
    assert response.status_code == 400
    assert message in unescape(response.content.decode())
    assert SavedView.objects.count() == 0


def test_the_menu_and_the_saved_views_page_list_mine_and_shared(client, world):
    org, make_user = world["org"], world["make_user"]
    other = make_user(org, email="other@example.com")
    saved_view_create(user=world["admin"], organisation=org, name="Admin private", filter=None)
    saved_view_create(user=other, organisation=org, name="Other shared", shared=True)
    saved_view_create(user=other, organisation=org, name="Other private")

    client.force_login(world["admin"])
    menu = client.get(f"/explore/views/menu?organisation={org.pk}").content.decode()
    assert re.findall(r'data-saved-view="[^"]+">([^<]+)</a>', menu) == ["Admin private", "Other shared"]
    page = client.get(PAGE).content.decode()
    assert re.findall(r'class="open-view">([^<]+)</a>', page) == ["Admin private", "Other shared"]
    assert 'href="/explore/views/"' in client.get("/explore/views/menu").content.decode()

    outsider = make_user(OrganisationFactory(name="Other org"), role="admin")
    client.force_login(outsider)
    assert "No saved views yet" in client.get(PAGE).content.decode()
    assert client.get(f"/explore/views/menu?organisation={org.pk}").status_code == 404


def test_rename_and_delete_owner_member_admin_outsider(client, world):
    org, make_user = world["org"], world["make_user"]
    owner = make_user(org, email="owner@example.com")
    member = make_user(org, email="member@example.com")
    outsider = make_user(OrganisationFactory(name="Other org"), role="admin")
    shared = saved_view_create(user=owner, organisation=org, name="Shared one", shared=True)
    private = saved_view_create(user=owner, organisation=org, name="Private one")

    client.force_login(member)  # sees the shared view, may not change or delete it; the private one is a 404
    assert client.post(f"/explore/views/{shared.pk}/rename", {"name": "Mine now"}).status_code == 403
    assert client.post(f"/explore/views/{shared.pk}/delete").status_code == 403
    assert client.post(f"/explore/views/{private.pk}/rename", {"name": "x"}).status_code == 404
    assert client.post(f"/explore/views/{private.pk}/delete").status_code == 404
    assert client.get(f"/explore/views/{private.pk}/open").status_code == 404
    page = client.get(PAGE).content.decode()
    assert "Shared one" in page and f'/explore/views/{shared.pk}/delete' not in page and "Private one" not in page

    client.force_login(outsider)
    assert client.get(f"/explore/views/{shared.pk}/open").status_code == 404
    assert client.post(f"/explore/views/{shared.pk}/delete").status_code == 404

    client.force_login(owner)
    assert client.post(f"/explore/views/{private.pk}/rename", {"name": "  Renamed  "}).status_code == 302
    assert SavedView.objects.get(pk=private.pk).name == "Renamed"
    client.post(f"/explore/views/{private.pk}/rename", {"name": "Shared one"})  # my own names are unique
    assert SavedView.objects.get(pk=private.pk).name == "Renamed"
    assert 'You already have a saved view named' in client.get(PAGE).content.decode()
    assert client.get(f"/explore/views/{private.pk}/open").status_code == 302

    client.force_login(world["admin"])  # an org admin deletes the shared view, not the private one
    assert client.post(f"/explore/views/{private.pk}/delete").status_code == 404
    assert client.post(f"/explore/views/{shared.pk}/delete").status_code == 302
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Renamed"]


def test_a_view_the_sidebar_cannot_show_opens_as_a_written_expression(client, world):
    """An ``or`` saved through the API opens with the same matches, written in the advanced box."""
    org = world["org"]
    tree = {"or": [{"key": "camera", "op": "eq", "value": "cam1"}, {"not": {"key": "score", "op": "gt", "value": 0.5}}]}
    view = saved_view_create(user=world["admin"], organisation=org, name="API made", filter=tree, q="night")
    client.force_login(world["admin"])

    query = dict(parse_qsl(opened(client, view)))

    assert query["q"] == '(camera = "cam1" or not score > 0.5) and (night)'
    items = ITEM.findall(client.get(f"/explore/?{urlencode(query)}").content.decode())
    expected = [i for i in world["items"] if i.client_metadata.get("night") is True and (
        i.client_metadata.get("camera") == "cam1" or not (isinstance(i.client_metadata.get("score"), float | int)
                                                          and i.client_metadata["score"] > 0.5))]
    assert len(items) == len(expected) > 0


def test_a_view_neither_the_sidebar_nor_an_expression_can_show_is_explained_not_opened(client, world):
    org = world["org"]
    view = saved_view_create(user=world["admin"], organisation=org, name="API made",
                             filter={"key": "camera", "op": "eq", "value": "cam1"},
                             sort=[{"key": "score"}, {"field": "created"}])
    client.force_login(world["admin"])

    response = client.get(f"/explore/views/{view.pk}/open", follow=True)

    assert response.redirect_chain == [("/explore/views/", 302)]
    assert "cannot be shown on the page" in unescape(response.content.decode())
