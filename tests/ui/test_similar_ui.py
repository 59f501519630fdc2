""""More like this" in Chromium: hover a tile, click its button, and the grid shows the nearest items
first (numpy's order) with their distances, within the page's filter; the link back restores the sort."""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect

from apps.core.services import organisation_member_set
from tests.similarity.fixtures import build, exact_nearest

pytestmark = pytest.mark.browser
N, SIZE = 40, 8


def tiles(page) -> list[str]:
    return page.locator("#result-grid .result-tile").evaluate_all("tiles => tiles.map(t => t.dataset.item)")


def test_more_like_this_from_a_tile_shows_the_nearest_first(logged_in, live_server, org):
    page, user = logged_in
    organisation_member_set(organisation=org, user=user, role="admin")
    _a, _b, items, vectors, _u = build(org, user, n=N, size=SIZE, clusters=4)
    page.goto(f"{live_server.url}/explore/?organisation={org.pk}&q=camera+%3D+%22cam1%22")
    source = items[4]  # camera cam1 (4 % 3 != 0)
    tile = page.locator(f'#result-grid .result-tile[data-item="{source.pk}"]')
    button = tile.locator(".more-like-this")
    expect(button).to_have_css("opacity", "0")
    tile.hover()
    expect(button).to_have_css("opacity", "1")
    button.click()
    page.wait_for_url(re.compile(rf"similar_item={source.pk}"))
    assert "similar=clip" in page.url and "q=camera" in page.url
    mask = np.array([i % 3 != 0 for i in range(N)])
    mask[4] = False
    expected = [str(items[i].pk) for i, _ in exact_nearest(vectors, vectors[4], mask, 120)]
    expect(page.locator("#similar-banner")).to_contain_text(source.name)
    assert tiles(page) == expected
    distances = page.locator("#result-grid .tile-distance").evaluate_all("d => d.map(e => +e.dataset.distance)")
    assert distances == sorted(distances) and len(distances) == len(expected)

    page.click("#similar-back")
    page.wait_for_url(lambda url: "similar" not in url)
    expect(page.locator("#similar-banner")).to_have_count(0)
    assert len(tiles(page)) == int(mask.sum()) + 1
