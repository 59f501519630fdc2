"""The Explorer page in a real browser: filter from the sidebar, type an expression, sort, reload the
copied URL and see the same items in the same order, go Back, and load more; over the 200-item fixture."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.core.services import organisation_member_set
from tests.explorer.fixtures import build
from tests.explorer.test_search_api import number

pytestmark = pytest.mark.browser


@pytest.fixture
def explorer(logged_in, live_server, org):
    page, user = logged_in
    organisation_member_set(organisation=org, user=user, role="admin")
    _a, _b, _sub, items = build(org, user)
    page.goto(f"{live_server.url}/explore/")
    return page, items


def tiles(page) -> list[str]:
    return page.locator("#result-grid .result-tile").evaluate_all("tiles => tiles.map(t => t.dataset.item)")


def sorted_by_score(items, rule) -> list[str]:
    """Ascending score, items without a numeric score last, the uuid breaking ties (as the selectors order)."""
    chosen = [i for i in items if rule(i.client_metadata)]
    present = sorted((i.client_metadata["score"], i.pk) for i in chosen if number(i.client_metadata.get("score")))
    missing = sorted(i.pk for i in chosen if not number(i.client_metadata.get("score")))
    return [str(pk) for _, pk in present] + [str(pk) for pk in missing]


def test_filter_type_sort_reload_back_and_load_more(explorer, browser):
    page, items = explorer
    count = page.locator("#result-count strong")
    expect(count).to_have_text("200")
    assert len(tiles(page)) == 60

    # The sidebar: cameras cam1..cam3 (OR within the key).
    for camera in ("cam1", "cam2", "cam3"):
        page.locator(f'#facets input[name="in:camera"][value="{camera}"]').check()
    by_camera = lambda m: m.get("camera") in ("cam1", "cam2", "cam3")  # noqa: E731
    expect(count).to_have_text(str(sum(by_camera(i.client_metadata) for i in items)))
    expect(page).to_have_url(re.compile(r"in%3Acamera=cam1&in%3Acamera=cam2&in%3Acamera=cam3$"))

    # The written expression ANDs with the sidebar.
    page.fill("#expression", "not night")
    page.click("#apply")
    rule = lambda m: by_camera(m) and m.get("night") is not True  # noqa: E731
    expected_count = sum(rule(i.client_metadata) for i in items)
    assert expected_count > 60  # enough for a second page
    expect(count).to_have_text(str(expected_count))
    expect(page).to_have_url(re.compile(r"q=not\+night"))

    # Sort by score, ascending.
    page.select_option("#sort", "key:score")
    expect(page).to_have_url(re.compile(r"sort=key%3Ascore"))
    page.select_option("#dir", "asc")
    expect(page).to_have_url(re.compile(r"dir=asc"))
    order = sorted_by_score(items, rule)
    page.wait_for_function("first => document.querySelector('#result-grid .result-tile').dataset.item === first",
                           arg=order[0])
    assert tiles(page) == order[:60]

    # The copied URL, opened elsewhere, shows the same view.
    copied = page.url
    other = browser.new_context().new_page()
    other.goto(copied)
    other.fill("input[name=username]", "browser@example.com")
    other.fill("input[name=password]", "a-long-password-9")
    other.click("button[type=submit]")
    other.wait_for_url(copied)
    assert tiles(other) == order[:60]
    assert other.locator("#expression").input_value() == "not night"
    assert other.locator("#sort").input_value() == "key:score" and other.locator("#dir").input_value() == "asc"
    assert other.locator('#facets input[name="in:camera"]:checked').evaluate_all(
        "boxes => boxes.map(b => b.value)") == ["cam1", "cam2", "cam3"]
    other.context.close()

    # Reload keeps the place; Back returns to the order before the direction changed.
    page.reload()
    assert tiles(page) == order[:60]
    page.go_back()
    expect(page.locator("#dir")).to_have_value("desc")
    page.go_forward()
    expect(page.locator("#dir")).to_have_value("asc")
    page.wait_for_function("first => document.querySelector('#result-grid .result-tile').dataset.item === first",
                           arg=order[0])

    # Load more appends the next page (keyset token) under the first one.
    page.click("#load-more a")
    page.wait_for_function("n => document.querySelectorAll('#result-grid .result-tile').length === n",
                           arg=expected_count)
    assert tiles(page) == order
    assert page.locator("#load-more").count() == 0


def test_table_view_and_a_refused_expression(explorer):
    page, items = explorer
    page.locator('input[name=view][value=table]').check()
    expect(page.locator("#result-table")).to_be_visible()
    page.click("#columns summary")
    page.locator('#columns input[name=col][value="key:camera"]').check()
    expect(page.locator('#result-table th[data-column="key:camera"]')).to_have_text("camera")

    folder_b = next(i.folder for i in items if i.folder.name == "b")
    page.select_option("#scope-folder", str(folder_b.pk))
    expect(page.locator("#result-count strong")).to_have_text(str(sum(i.folder_id == folder_b.pk for i in items)))
    expect(page).to_have_url(re.compile(f"folder={folder_b.pk}&view=table&col=field%3Atype&col=field%3Aname"
                                        "&col=field%3Acreated&col=key%3Acamera$"))

    page.fill("#expression", "score >")
    page.click("#apply")
    expect(page.locator('#filter-errors li[data-place="q"]')).to_have_text(
        'At position 7: expected a value (a "string", a number, true, false or [list]), found the end of the '
        "expression.")
    assert page.locator("#result-table").count() == 0
