"""The map page in a real browser (Chromium, WebGL through SwiftShader): the points drawn, a lasso drawn
with the mouse, "Open in Explorer" showing exactly the lassoed items, and a bulk edit of them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.core.services import organisation_member_set
from apps.metadata.models import MetadataKey
from apps.storage.models import Item
from apps.similarity.services import projection_compute, projection_request
from tests.similarity.projection_fixtures import build, inside
from tests.ui.conftest import CHROMIUM_ARGS, launched_chromium

pytestmark = pytest.mark.browser
# The shared browser runs with --disable-gpu; WebGL needs Chromium's software renderer.
WEBGL_ARGS = [arg for arg in CHROMIUM_ARGS if arg != "--disable-gpu"] + [
    "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


@pytest.fixture(scope="module")
def webgl_browser():
    yield from launched_chromium(WEBGL_ARGS)


@pytest.fixture
def map_page(webgl_browser, live_server, transactional_db, org, make_user):
    user = make_user(org, email="mapper@example.com", password="a-long-password-9")
    organisation_member_set(organisation=org, user=user, role="admin")
    _a, _b, items = build(org, user)
    key = MetadataKey.objects.get(organisation=org, name="clip")
    projection_compute(projection_id=projection_request(organisation=org, key=key).pk)
    context = webgl_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "mapper@example.com")
    page.fill("input[name=password]", "a-long-password-9")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    yield page, items
    context.close()


def test_lasso_on_the_map_then_open_in_explorer_and_bulk_edit_the_lassoed_items(map_page, live_server, org):
    page, items = map_page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/explore/")
    page.click("#open-map")
    expect(page.locator("#map-status")).to_have_text("up to date")
    page.wait_for_function("window.loupeMap && window.loupeMap.ready")
    assert page.evaluate("window.loupeMap.state.points.n") == 60

    # Draw a lasso over the left part of the plot, with the mouse.
    page.check('input[name=mode][value=lasso]')
    box = page.locator("#map-canvas").bounding_box()
    left, top, width, height = box["x"], box["y"], box["width"], box["height"]
    path = [(0.05, 0.05), (0.5, 0.1), (0.55, 0.5), (0.45, 0.95), (0.05, 0.9)]
    page.mouse.move(left + width * path[0][0], top + height * path[0][1])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(path, path[1:] + path[:1]):
        for step in range(1, 11):
            t = step / 10
            page.mouse.move(left + width * (x0 + (x1 - x0) * t), top + height * (y0 + (y1 - y0) * t))
            page.wait_for_timeout(15)
    page.mouse.up()
    expect(page.locator("#map-open")).to_be_visible()
    polygon = page.evaluate("window.loupeMap.state.lasso")
    selected = page.evaluate("window.loupeMap.state.selected.length")

    points = {item: xy for item, xy in _points(org).items()}
    expected = {pk for pk, xy in points.items() if inside(xy, polygon)}
    assert 0 < len(expected) < 60
    assert selected == len(expected)

    page.click("#map-open")
    page.wait_for_url(re.compile(r"/explore/\?.*lasso"))
    expect(page.locator("#result-count strong")).to_have_text(str(len(expected)))
    expect(page.locator('fieldset.lasso[data-lasso="clip"]')).to_be_visible()
    page.click("#select-all")
    expect(page.locator("#selection-count")).to_have_text(f"All {len(expected)} items matching selected")
    page.click("#action-edit")
    dialog = page.locator("#edit-dialog")
    dialog.get_by_label("Set a key").check()
    dialog.locator("#edit-key").select_option("score")
    dialog.locator('.edit-value[data-key="score"] input').fill("99")
    with page.expect_request("**/api/v1/explore/bulk-edit?*") as sent:
        dialog.get_by_role("button", name="Apply").click()
    assert sent.value.post_data_json["filter"]["and"][0]["projection"]["key"] == "clip"
    expect(dialog.locator("[data-result]")).to_contain_text(f"Edited {len(expected)} items")
    scores = dict(Item.objects.filter(organisation=org).values_list("uuid", "client_metadata__score"))
    assert {pk for pk, score in scores.items() if score == 99} == expected
    assert errors == []


def _points(org) -> dict:
    from apps.similarity.models import ProjectionPoint

    return {item: (x, y) for item, x, y in ProjectionPoint.objects.filter(projection__organisation=org)
            .values_list("item_id", "x", "y")}
