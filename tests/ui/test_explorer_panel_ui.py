"""The Explorer page in Chromium: facet counts that follow the sidebar filter, the expression error marked
at its position, the estimate replaced by the exact count, the side panel walked with the arrow keys
across a "load more" boundary, filter on an undeclared key, and a saved view opened from the
saved-views page and from the menu; over the 200-item fixture."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from playwright.sync_api import expect

from apps.explorer import counting
from apps.core.services import organisation_member_set
from tests.explorer.fixtures import CAMERAS, build
from tests.explorer.test_search_api import number

pytestmark = pytest.mark.browser


@pytest.fixture
def explorer(logged_in, live_server, org):
    page, user = logged_in
    organisation_member_set(organisation=org, user=user, role="admin")
    _a, _b, _sub, items = build(org, user)
    return page, items, live_server.url


def tiles(page) -> list[str]:
    return page.locator("#result-grid .result-tile").evaluate_all("tiles => tiles.map(t => t.dataset.item)")


def camera_count(page, camera: str):
    return page.locator(f'#facets input[name="in:camera"][value="{camera}"] ~ .facet-n')


def test_facet_counts_follow_the_sidebar_and_the_expression_error_is_marked(explorer):
    page, items, url = explorer
    page.goto(f"{url}/explore/")
    cameras = Counter(i.client_metadata.get("camera") for i in items)
    for camera in CAMERAS:
        expect(camera_count(page, camera)).to_have_text(str(cameras[camera]))
    nights = Counter(i.client_metadata.get("night") for i in items)
    expect(page.locator('#facets select[name="is:night"] option[value=true]')).to_have_text(f"true ({nights[True]})")
    scores = [i for i in items if number(i.client_metadata.get("score"))]
    bars = page.locator('#facets output[data-facet-counts="score"] svg.histogram rect')
    expect(bars).to_have_count(20)
    assert sum(int(n) for n in bars.evaluate_all("bars => bars.map(b => b.dataset.count)")) == len(scores)

    # Tick night = false: every count follows the filter.
    page.select_option('#facets select[name="is:night"]', "false")
    chosen = [i for i in items if i.client_metadata.get("night") is False]
    for camera in CAMERAS:
        expect(camera_count(page, camera)).to_have_text(str(sum(i.client_metadata.get("camera") == camera
                                                                for i in chosen)))
    expect(page.locator('#facets select[name="is:night"] option[value=true]')).to_have_text("true (0)")
    expect(page.locator("#result-count strong")).to_have_text(str(len(chosen)))

    # A click on a histogram bar sets the range to it.
    page.locator('#facets output[data-facet-counts="score"] svg.histogram rect').first.click(force=True)
    expect(page).to_have_url(re.compile(r"min%3Ascore=[0-9.]+&max%3Ascore=[0-9.]+"))

    # A refused expression is shown with its position marked.
    page.fill("#expression", "score > 0.5 and camera >")
    page.click("#apply")
    expect(page.locator("#expression-mark mark")).to_have_text(" ")
    expect(page.locator("#expression-mark")).to_have_text("score > 0.5 and camera > ")
    expect(page.locator('#filter-errors li[data-place="q"]')).to_contain_text("At position 24:")


def test_the_estimate_shows_at_once_and_the_exact_count_replaces_it(explorer, monkeypatch):
    page, items, url = explorer
    monkeypatch.setattr(counting, "EXACT_COUNT_BELOW", 0)  # as if counting exactly were too slow to wait for
    held = []
    page.route(re.compile(r"/explore/count\?"), lambda route: held.append(route))
    page.goto(f"{url}/explore/?in:camera=cam2")
    expect(page.locator("#count-estimate strong")).to_have_text(re.compile(r"^about \d+$"))
    assert len(tiles(page)) == sum(i.client_metadata.get("camera") == "cam2" for i in items)  # results did not wait
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#count-estimate")).to_have_count(0)
    expect(page.locator("#result-count strong")).to_have_text(
        str(sum(i.client_metadata.get("camera") == "cam2" for i in items)))


def test_side_panel_opens_on_click_and_walks_with_the_arrow_keys_across_load_more(explorer):
    page, items, url = explorer
    page.goto(f"{url}/explore/")
    by_pk = {str(i.pk): i for i in items}
    order = tiles(page)
    assert len(order) == 60

    page.locator("#result-grid .result-tile").nth(0).click()
    panel = page.locator("#item-panel")
    expect(panel).to_be_visible()
    expect(page.locator("#panel-title")).to_have_text(by_pk[order[0]].name)
    assert page.url == f"{url}/explore/"  # the tile link was not followed
    first = by_pk[order[0]]
    expect(page.locator("#panel-item-link")).to_have_attribute("href", first.get_absolute_url())
    expect(page.locator("#panel-folder")).to_have_text(first.folder.name)
    expect(page.locator("#item-panel #viewer")).to_have_attribute("data-type", first.item_type)
    for key, value in first.client_metadata.items():
        expect(page.locator("#panel-metadata dt", has_text=re.compile(f"^{key}$"))).to_have_count(1)
    expect(page.locator("#panel-prev")).to_be_disabled()

    page.keyboard.press("ArrowRight")
    expect(page.locator("#panel-title")).to_have_text(by_pk[order[1]].name)
    expect(page.locator(f'.result-tile[data-item="{order[1]}"]')).to_have_class(re.compile("panel-current"))
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#panel-title")).to_have_text(by_pk[order[0]].name)
    page.click("#panel-next")
    expect(page.locator("#panel-title")).to_have_text(by_pk[order[1]].name)
    page.click("#panel-prev")
    expect(page.locator("#panel-title")).to_have_text(by_pk[order[0]].name)

    # From the last loaded tile, ArrowRight loads the next page and moves on to its first item.
    page.locator("#result-grid .result-tile").nth(59).click()
    expect(page.locator("#panel-title")).to_have_text(by_pk[order[59]].name)
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelectorAll('#result-grid .result-tile').length === 120")
    sixty_first = tiles(page)[60]
    expect(page.locator("#panel-title")).to_have_text(by_pk[sixty_first].name)
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#panel-title")).to_have_text(by_pk[order[59]].name)

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    # Ctrl-click keeps the link's own behaviour: no panel.
    with page.context.expect_page() as other:
        page.locator("#result-grid .result-tile").nth(2).click(modifiers=["Control"])
    other.value.close()
    expect(panel).to_be_hidden()


def test_filter_on_an_undeclared_key_offers_to_declare_it(explorer):
    page, items, url = explorer
    page.goto(f"{url}/explore/")
    page.fill("#any-key-name", "speed")
    page.select_option("#any-key-op", "contains")
    page.fill("#any-key-value", "km/h")
    page.locator("#any-key-value").press("Enter")
    expected = sum(isinstance(i.client_metadata.get("speed"), str) for i in items)
    expect(page.locator("#result-count strong")).to_have_text(str(expected))
    expect(page).to_have_url(re.compile(r"anykey=speed&anyop=contains&anyval=km%2Fh$"))
    page.click("#declare-key")
    expect(page.locator("#key-add-form input[name=name]")).to_have_value("speed")


def test_save_a_view_then_open_it_from_the_saved_views_page_and_the_menu(explorer):
    page, items, url = explorer
    page.goto(f"{url}/explore/")
    page.locator('#facets input[name="in:camera"][value="cam3"]').check()
    page.select_option("#sort", "key:score")
    expect(page).to_have_url(re.compile(r"in%3Acamera=cam3&sort=key%3Ascore$"))
    shown = tiles(page)
    cam3 = sum(i.client_metadata.get("camera") == "cam3" for i in items)
    assert len(shown) == cam3

    page.click("#saved-views-menu summary")
    page.click("#save-view-open")
    page.fill("#save-view-name", "Camera 3 by score")
    page.check("#save-view-shared")
    page.click("#save-view-submit")
    expect(page.locator('#facets input[name="in:camera"][value="cam3"]')).to_be_checked()
    expect(page).to_have_url(re.compile(r"/explore/\?organisation=[0-9a-f-]+&in%3Acamera=cam3&sort=key%3Ascore$"))

    # Clear the filter, then open the view from the saved-views page.
    page.click("#clear-filters")
    expect(page.locator("#result-count strong")).to_have_text("200")
    page.click("#saved-views-menu summary")
    expect(page.locator('#saved-views-menu a[data-saved-view]')).to_have_text(["Camera 3 by score"])
    page.click("#saved-views-page")
    expect(page.locator("#saved-views td", has_text="shared")).to_have_count(1)
    page.click("#saved-views a.open-view")
    expect(page.locator("#result-count strong")).to_have_text(str(cam3))
    assert tiles(page) == shown and page.locator("#sort").input_value() == "key:score"

    # And from the menu.
    page.click("#clear-filters")
    expect(page.locator("#result-count strong")).to_have_text("200")
    page.click("#saved-views-menu summary")
    page.click('#saved-views-menu a[data-saved-view]')
    expect(page.locator("#result-count strong")).to_have_text(str(cam3))
    assert tiles(page) == shown

    # Rename and delete on the saved-views page.
    page.goto(f"{url}/explore/views/")
    page.fill('#saved-views input[name="name"]', "Cam 3")
    page.click("#saved-views .rename-view button")
    expect(page.locator("#saved-views a.open-view")).to_have_text("Cam 3")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#saved-views .delete-view button")
    expect(page.locator("#no-saved-views")).to_be_visible()
