"""The folder page (the Explorer scoped to a folder) in a real browser: the tile-size slider, Back and
reload after "load more", and ArrowRight/ArrowLeft on the item page through the filtered result."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.core.services import organisation_member_set
from tests.explorer.fixtures import build
from tests.explorer.test_search_api import number

pytestmark = pytest.mark.browser


@pytest.fixture
def folder_page(logged_in, live_server, org):
    page, user = logged_in
    organisation_member_set(organisation=org, user=user, role="admin")
    folder_a, _b, _sub, items = build(org, user)
    return page, folder_a, [i for i in items if i.folder_id == folder_a.pk]


def tiles(page) -> list[str]:
    return page.locator("#result-grid .result-tile").evaluate_all("tiles => tiles.map(t => t.dataset.item)")


def test_the_tile_slider_sets_the_tile_width_and_is_remembered(folder_page, live_server):
    page, folder, _items = folder_page
    page.goto(f"{live_server.url}{folder.get_absolute_url()}")
    first = page.locator("#result-grid .result-tile").first
    assert first.bounding_box()["width"] == 140
    url = page.url

    page.locator("#tile-size").fill("240")
    expect(first).to_have_js_property("offsetWidth", 240)
    page.locator("#tile-size").fill("100")
    expect(first).to_have_js_property("offsetWidth", 100)
    assert page.url == url  # a view setting, not a search: no request, the address unchanged

    page.goto(f"{live_server.url}/explore/")  # the Explorer page opens at the size chosen last
    expect(page.locator("#result-grid .result-tile").first).to_have_js_property("offsetWidth", 100)
    assert page.locator("#tile-size").input_value() == "100"


def test_back_and_reload_after_load_more_keep_the_place(folder_page, live_server):
    page, folder, items = folder_page
    page.goto(f"{live_server.url}{folder.get_absolute_url()}")
    expect(page.locator("#result-count strong")).to_have_text(str(len(items)))
    first_page = tiles(page)
    assert len(first_page) == 60

    page.click("#load-more a")
    page.wait_for_function("n => document.querySelectorAll('#result-grid .result-tile').length === n", arg=len(items))
    expect(page).to_have_url(re.compile(r"\?after=[\w-]+$"))
    later = tiles(page)[60:]
    assert len(later) == len(items) - 60 and not set(later) & set(first_page)

    # Open an item of the second page, then come Back: that item is on screen again.
    page.goto(live_server.url + page.locator(f'.result-tile[data-item="{later[3]}"]').get_attribute("href"))
    page.wait_for_url(re.compile(f"/items/{later[3]}/"))
    page.go_back()
    expect(page.locator(f'#result-grid .result-tile[data-item="{later[3]}"]')).to_be_visible()

    # Reload shows the page the address names (from its token), with the way back to the first page.
    page.reload()
    assert tiles(page) == later
    page.click("#first-page")
    page.wait_for_url(f"{live_server.url}{folder.get_absolute_url()}")
    assert tiles(page) == first_page


def test_arrow_keys_on_the_item_page_walk_the_filtered_result(folder_page, live_server):
    page, folder, items = folder_page
    rule = lambda i: i.client_metadata.get("camera") == "cam3" and number(i.client_metadata.get("score"))  # noqa: E731
    order = [str(pk) for _, pk in sorted((i.client_metadata["score"], i.pk) for i in items if rule(i))]
    page.goto(f"{live_server.url}{folder.get_absolute_url()}?in:camera=cam3&has:score=yes&sort=key:score&dir=asc")
    assert tiles(page)[:len(order)] == order

    page.goto(live_server.url + page.locator(f'.result-tile[data-item="{order[0]}"]').get_attribute("href"))
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(f"/items/{order[1]}/"))
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(f"/items/{order[2]}/"))
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(f"/items/{order[1]}/"))
    page.click("#item-back")
    page.wait_for_url(re.compile(r"/folders/[0-9a-f-]{36}/\?in%3Acamera=cam3&has%3Ascore=yes&sort=key%3Ascore&dir=asc$"))


def test_a_view_saved_on_the_folder_page_keeps_the_folder_as_its_scope(folder_page, live_server):
    from apps.explorer.models import SavedView

    page, folder, items = folder_page
    page.goto(f"{live_server.url}{folder.get_absolute_url()}?sort=key:score")
    shown = tiles(page)
    assert len(shown) == 60 < len(items)  # the first page

    page.click("#saved-views-menu summary")
    page.click("#save-view-open")
    page.fill("#save-view-name", "Folder A by score")
    page.click("#save-view-submit")

    # The view opens on the Explorer page with the folder as its scope (not the whole organisation),
    # without subfolders as the folder page showed it, and the same items in the same order.
    expect(page).to_have_url(re.compile(rf"/explore/\?organisation=[0-9a-f-]+&folder={folder.pk}&sub=0&sort=key%3Ascore$"))
    expect(page.locator("#result-grid .result-tile")).to_have_count(60)
    assert tiles(page) == shown
    view = SavedView.objects.get(name="Folder A by score")
    assert (view.scope_folder_id, view.recursive, view.sort) == (folder.pk, False, [{"key": "score", "desc": True}])
