"""The fragments the Explorer page loads after its results, through Django's test client: the side panel,
the sidebar's facet counts and histograms, the exact count after an estimate, and "Filter on any key";
each checked against the fixture's rows, for a folder viewer, an outsider and an org admin, and with
hostile query strings (a 400 with the reason, never a 500)."""

from __future__ import annotations

import json
import re
from collections import Counter
from html import unescape

import pytest

from apps.explorer import counting
from apps.storage.models import FolderRole
from apps.storage.services.folders import folder_member_set
from tests.explorer.test_explore_page import COUNT, explore_all, world  # noqa: F401 (world: the shared fixture)
from tests.explorer.test_search_api import number
from tests.factories import OrganisationFactory

FACETS = "/explore/facets"
BLOCK = re.compile(r'<div data-facet-result="([^"]+)" data-kind="([a-z]+)"(?: data-counts="([^"]*)")?>(.*?)\n</div>', re.S)
BAR = re.compile(r'<rect [^>]*data-count="(\d+)"')


def facets_of(response) -> dict[str, dict]:
    """{sidebar block: {"kind", "counts" (boolean/enum), "bars" (histogram counts), "html"}}."""
    assert response.status_code == 200, response.content[:300]
    found = {}
    for param, kind, counts, html in BLOCK.findall(response.content.decode()):
        found[param] = {"kind": kind, "counts": json.loads(unescape(counts)) if counts else None,
                        "bars": [int(n) for n in BAR.findall(html)], "html": html}
    return found


def panel_url(item) -> str:
    return f"/explore/items/{item.pk}/panel"


@pytest.fixture
def viewer(world):
    user = world["make_user"](world["org"], email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=user, role=FolderRole.VIEWER)
    return user


def visible(world, user_folders=None, rule=lambda m, i: True) -> list:
    return [i for i in world["items"] if (user_folders is None or i.folder_id in user_folders)
            and rule(i.client_metadata, i)]


# --------------------------------------------------------------------------- side panel


def test_panel_shows_the_viewer_name_type_folder_and_metadata(client, world):
    client.force_login(world["admin"])
    item = next(i for i in world["items"] if len(i.client_metadata) >= 4)

    html = client.get(panel_url(item), headers={"HX-Request": "true"}).content.decode()

    assert f'<h2 id="panel-title" data-item="{item.pk}">{item.name}</h2>' in html
    assert f'<a href="{item.get_absolute_url()}" id="panel-item-link">' in html
    assert f'id="panel-folder">{item.folder.name}</a>' in html
    assert 'id="viewer" data-type="' + item.item_type + '"' in html  # the item page's own viewer partial
    shown = [(unescape(k), unescape(v)) for k, v in re.findall(r"<div><dt>(.*?)</dt><dd>(.*?)</dd></div>", html)]
    assert shown == [(key, value if isinstance(value, str) else json.dumps(value))
                     for key, value in sorted(item.client_metadata.items())]
    assert "<html" not in html


def test_panel_permissions_viewer_outsider_admin(client, world, viewer):
    in_a = next(i for i in world["items"] if i.folder_id == world["a"].pk)
    in_b = next(i for i in world["items"] if i.folder_id == world["b"].pk)

    client.force_login(viewer)
    assert client.get(panel_url(in_a)).status_code == 200
    assert client.get(panel_url(in_b)).status_code == 404
    assert client.get("/explore/items/00000000-0000-0000-0000-000000000000/panel").status_code == 404
    assert client.get("/explore/items/not-a-uuid/panel").status_code == 404

    client.force_login(world["make_user"](OrganisationFactory(name="Other"), role="admin"))
    assert client.get(panel_url(in_a)).status_code == 404

    client.force_login(world["admin"])
    assert client.get(panel_url(in_b)).status_code == 200

    client.logout()
    assert client.get(panel_url(in_a)).status_code == 302  # to the login page


# --------------------------------------------------------------------------- facets


def test_facets_count_every_value_and_follow_the_filter(client, world):
    client.force_login(world["admin"])

    everything = facets_of(client.get(FACETS))
    items = world["items"]
    cameras = Counter(i.client_metadata.get("camera") for i in items)
    assert everything["camera"]["counts"] == {c: cameras[c] for c in ("cam1", "cam2", "cam3", "cam4")}
    nights = Counter(i.client_metadata.get("night") for i in items)
    assert everything["night"]["counts"] == {"true": nights[True], "false": nights[False]}
    assert everything["$type"]["counts"]["video"] == sum(i.item_type == "video" for i in items) == 50
    scores = [i.client_metadata["score"] for i in items if number(i.client_metadata.get("score"))]
    assert everything["score"]["kind"] == "histogram" and len(everything["score"]["bars"]) == 20
    assert sum(everything["score"]["bars"]) == len(scores)
    assert everything["captured"]["kind"] == "histogram"
    assert sum(everything["captured"]["bars"]) == sum("captured" in i.client_metadata for i in items)
    assert everything["site"]["kind"] == "top"
    sites = Counter(i.client_metadata.get("site") for i in items if "site" in i.client_metadata)
    for site, n in sites.items():
        assert f'<span class="value">{site}</span> <span class="n">{n}</span>' in everything["site"]["html"]
    assert "$name" not in everything  # unique names: no top values worth showing

    # The same state as the page: the camera ticks and the expression both apply.
    rule = lambda m: m.get("camera") in ("cam1", "cam2") and m.get("night") is not True  # noqa: E731
    filtered = facets_of(client.get(FACETS + "?in:camera=cam1&in:camera=cam2&q=not+night"))
    chosen = [i for i in items if rule(i.client_metadata)]
    assert filtered["camera"]["counts"] == {c: sum(i.client_metadata.get("camera") == c for i in chosen)
                                            for c in ("cam1", "cam2", "cam3", "cam4")}
    assert filtered["camera"]["counts"]["cam3"] == 0 and filtered["camera"]["counts"]["cam1"] > 0
    assert filtered["night"]["counts"] == {"true": 0, "false": sum(i.client_metadata.get("night") is False
                                                                   for i in chosen)}


def test_facets_count_only_what_the_caller_may_see(client, world, viewer):
    client.force_login(viewer)
    mine = visible(world, {world["a"].pk, world["sub"].pk})
    assert facets_of(client.get(FACETS))["camera"]["counts"] == {
        c: sum(i.client_metadata.get("camera") == c for i in mine) for c in ("cam1", "cam2", "cam3", "cam4")}
    assert client.get(f"{FACETS}?folder={world['b'].pk}").status_code == 404

    client.force_login(world["make_user"](OrganisationFactory(name="Other"), role="admin"))
    assert client.get(f"{FACETS}?organisation={world['org'].pk}").status_code == 404


@pytest.mark.parametrize("query, reason", [
    ("?q=score+%3E", "q: At position 7: expected a value"),
    ("?min:score=abc", "min:score: Not a number: 'abc'."),
    ("?min:score=1e999", "min:score: Not a number"),
    ("?folder=not-a-folder", "folder: Not a folder id."),
    ("?q=camera+%3E+3", 'q: At position 0: key "camera" is enum'),
    ("?min:captured=yesterday", "filter.and[0]"),
    ("?anykey=bad%00name", "NUL character"),
    ("?anykey=%24where", 'filter.and[0]: Not a metadata key name: A key name cannot start with "$".'),
    ("?anykey=a%3Bdrop", "filter.and[0]: Not a metadata key name: A key name may hold only letters"),
    ("?anykey=speed&anyop=eq", 'anyval: Give a value for "speed" equals.'),
    ("?q=" + "(" * 300 + "x", "q: "),
])
def test_hostile_query_strings_are_400_with_the_reason(client, world, query, reason):
    client.force_login(world["admin"])
    for url in (FACETS, "/explore/count"):
        response = client.get(url + query)
        assert response.status_code == 400, (url, response.status_code)
        assert reason in unescape(response.content.decode()), (url, response.content[:400])


# --------------------------------------------------------------------------- counts


def test_the_page_shows_an_estimate_then_the_exact_count(client, world, monkeypatch):
    client.force_login(world["admin"])
    assert COUNT.search(client.get("/explore/?in:camera=cam1").content.decode())  # cheap: exact at once

    monkeypatch.setattr(counting, "EXACT_COUNT_BELOW", 0)  # as if the result were too large to count inline
    html = client.get("/explore/?in:camera=cam1").content.decode()
    estimate = re.search(r'<span id="count-estimate" title="[^"]+" hx-get="([^"]+)" hx-trigger="load" '
                         r'hx-target="this" hx-swap="outerHTML" hx-push-url="false"><strong>about (\d+)</strong> items</span>', html)
    assert estimate is not None and COUNT.search(html) is None
    # The fragment spells the scope out (a folder page holds it in its path)
    assert unescape(estimate.group(1)) == f"/explore/count?in%3Acamera=cam1&organisation={world['org'].pk}"

    exact = client.get(unescape(estimate.group(1))).content.decode()
    cam1 = sum(i.client_metadata.get("camera") == "cam1" for i in world["items"])
    assert exact == f"<strong>{cam1}</strong> items"


def test_about_reads_as_a_person_would():
    from apps.explorer.views import about

    assert [about(n) for n in (0, 340, 1_000, 12_345, 999_999, 1_234_567, 25_000_000, 3_000_000_000)] == [
        "about 0", "about 340", "about 1k", "about 12k", "about 999k", "about 1.2M", "about 25M", "about 3G"]


def test_exact_count_follows_the_viewers_folders(client, world, viewer):
    client.force_login(viewer)
    assert client.get("/explore/count").content.decode() == "<strong>133</strong> items"
    assert client.get("/explore/count?q=camera+%3D+%22cam1%22").content.decode() == \
        f"<strong>{sum(i.client_metadata.get('camera') == 'cam1' for i in visible(world, {world['a'].pk, world['sub'].pk}))}</strong> items"


# --------------------------------------------------------------------------- filter on any key


@pytest.mark.parametrize("query, rule", [
    ("?anykey=speed", lambda m: "speed" in m),
    ("?anykey=speed&anyop=missing", lambda m: "speed" not in m),
    ("?anykey=speed&anyop=contains&anyval=KM", lambda m: isinstance(m.get("speed"), str) and "km" in m["speed"]),
    ("?anykey=camera&anyop=eq&anyval=cam2", lambda m: m.get("camera") == "cam2"),
    ("?anykey=night&anyop=eq&anyval=true", lambda m: m.get("night") is True),
])
def test_filter_on_any_key(client, world, query, rule):
    client.force_login(world["admin"])
    shown, count, _ = explore_all(client, query)
    assert set(shown) == {str(i.pk) for i in world["items"] if rule(i.client_metadata)} and count == len(shown)


def test_untyped_equality_matches_the_number_and_the_text(client, world):
    client.force_login(world["admin"])
    value = next(i.client_metadata["speed"] for i in world["items"] if isinstance(i.client_metadata.get("speed"), int))
    world["items"][0].client_metadata["speed"] = str(value)  # the same value written as text
    world["items"][0].save(update_fields=["client_metadata"])

    shown, _, _ = explore_all(client, f"?anykey=speed&anyop=eq&anyval={value}")

    assert set(shown) == {str(i.pk) for i in world["items"] if i.client_metadata.get("speed") in (value, str(value))}
    assert str(world["items"][0].pk) in shown


def test_an_undeclared_key_offers_to_declare_it(client, world):
    client.force_login(world["admin"])
    org = world["org"]
    html = client.get("/explore/?anykey=speed").content.decode()
    link = f'href="/metadata/schema/?organisation={org.pk}&amp;declare=speed" id="declare-key"'
    assert link in html and 'data-facet-counts="any-key"' in html
    assert 'id="declare-key"' not in client.get("/explore/?anykey=camera").content.decode()
    speed = facets_of(client.get(FACETS + "?anykey=speed"))
    speeds = Counter(str(i.client_metadata["speed"]) for i in world["items"] if "speed" in i.client_metadata)
    listed = dict(re.findall(r'<span class="value">([^<]*)</span> <span class="n">(\d+)</span>', speed["any-key"]["html"]))
    assert speed["any-key"]["kind"] == "top" and len(listed) == 10
    assert all(speeds[value] == int(n) for value, n in listed.items())

    schema_page = client.get(f"/metadata/schema/?organisation={org.pk}&declare=speed").content.decode()
    assert re.search(r'<input type="text" name="name" value="speed"', schema_page)
