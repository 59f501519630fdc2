"""The Explorer page through Django's test client: the scope and visibility the REST search has, the
sidebar and the written expression as one filter, sort, table view, "load more" pages, and refused
filters shown with their place and position on a 200 page."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlencode

import pytest

from apps.storage.models import FolderRole, Item
from apps.storage.services.folders import folder_member_set
from tests.explorer.fixtures import build
from tests.explorer.test_search_api import _sort_order, instant, number
from tests.factories import OrganisationFactory

URL = "/explore/"
ITEM = re.compile(r'<(?:a|tr) class="[^"]*result-(?:tile|row)"[^>]*? data-item="([0-9a-f-]{36})"')  # not the checkboxes
LOAD_MORE = re.compile(r'id="load-more">(?:<td[^>]*>)?<a href="([^"]+)"')
COUNT = re.compile(r'id="result-count"><strong>(\d+)</strong>')
ERRORS = re.compile(r'<li data-place="([^"]+)">(.*?)</li>', re.S)


@pytest.fixture
def world(org, make_user):
    admin = make_user(org, role="admin")
    folder_a, folder_b, sub, items = build(org, admin)
    return {"admin": admin, "a": folder_a, "b": folder_b, "sub": sub, "items": items, "org": org,
            "make_user": make_user}


def page_of(response) -> tuple[list[str], str | None, int | None]:
    """(item uuids shown, the "load more" URL, the count shown) of one page or fragment."""
    assert response.status_code == 200
    html = response.content.decode()
    more = LOAD_MORE.search(html)
    count = COUNT.search(html)
    return ITEM.findall(html), unescape(more.group(1)) if more else None, int(count.group(1)) if count else None


def explore_all(client, query: str = "") -> tuple[list[str], int, int]:
    """Every item the page lists for ``query``, following "load more" (as htmx asks for it): (uuids, count, pages)."""
    first, more, count = page_of(client.get(URL + query))
    shown, pages = list(first), 1
    while more:
        rows, more, _ = page_of(client.get(more, headers={"HX-Request": "true", "HX-Target": "load-more"}))
        shown += rows
        pages += 1
    return shown, count, pages


def errors_of(response) -> list[tuple[str, str]]:
    assert response.status_code == 200
    return [(place, unescape(re.sub(r"<[^>]+>", "", text)).strip())
            for place, text in ERRORS.findall(response.content.decode())]


def expected(world, rule) -> set[str]:
    return {str(i.pk) for i in world["items"] if rule(i.client_metadata, i)}


def test_org_admin_pages_through_every_item_once_with_load_more(client, world):
    client.force_login(world["admin"])

    shown, count, pages = explore_all(client)

    assert (len(shown), len(set(shown)), count, pages) == (200, 200, 200, 4)  # 60 + 60 + 60 + 20
    assert set(shown) == {str(i.pk) for i in world["items"]}


def test_the_load_more_fragment_is_only_the_next_tiles(client, world):
    client.force_login(world["admin"])
    _, more, _ = page_of(client.get(URL))

    fragment = client.get(more, headers={"HX-Request": "true", "HX-Target": "load-more"}).content.decode()

    assert "<html" not in fragment and 'id="facets"' not in fragment
    assert fragment.count('class="item-card result-tile"') == 60


def test_viewer_sees_only_granted_folders_outsider_nothing_org_admin_everything(client, world):
    org, make_user = world["org"], world["make_user"]
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=viewer, role=FolderRole.VIEWER)
    granted = {str(i.pk) for i in world["items"] if i.folder_id in (world["a"].pk, world["sub"].pk)}
    only_a = {str(i.pk) for i in world["items"] if i.folder_id == world["a"].pk}

    client.force_login(viewer)
    shown, count, _ = explore_all(client)
    assert set(shown) == granted and count == len(granted) == 133
    shown, count, _ = explore_all(client, f"?folder={world['a'].pk}&sub=0")
    assert set(shown) == only_a and count == len(only_a) == 67
    assert client.get(f"{URL}?folder={world['b'].pk}").status_code == 404

    client.force_login(make_user(org, email="nobody@example.com"))
    response = client.get(URL)
    assert page_of(response) == ([], None, 0)
    assert 'id="no-results"' in response.content.decode()

    outsider = make_user(OrganisationFactory(name="Other"), role="admin", email="out@example.com")
    client.force_login(outsider)
    assert page_of(client.get(URL)) == ([], None, 0)
    assert client.get(f"{URL}?folder={world['a'].pk}").status_code == 404
    assert client.get(f"{URL}?organisation={org.pk}").status_code == 404


def test_include_subfolders_switch(client, world):
    client.force_login(world["admin"])
    a, sub = world["a"], world["sub"]
    in_a = {str(i.pk) for i in world["items"] if i.folder_id == a.pk}
    in_sub = {str(i.pk) for i in world["items"] if i.folder_id == sub.pk}

    # The switch is a hidden "0" followed by the checkbox's "1": the last value wins.
    assert set(explore_all(client, f"?folder={a.pk}&sub=0&sub=1")[0]) == in_a | in_sub
    assert set(explore_all(client, f"?folder={a.pk}")[0]) == in_a | in_sub
    assert set(explore_all(client, f"?folder={a.pk}&sub=0")[0]) == in_a


def test_the_scope_menu_lists_visible_folders_in_tree_order(client, world):
    org, a, b, sub = world["org"], world["a"], world["b"], world["sub"]
    viewer = world["make_user"](org, email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=a, member=viewer, role=FolderRole.VIEWER)

    admin_html = _logged(client, world["admin"]).get(f"{URL}?folder={sub.pk}").content.decode()
    viewer_html = _logged(client, viewer).get(URL).content.decode()

    option = re.compile(r'<option value="([^"]*)"( selected)?>([^<]+)</option>')
    scope = lambda html: option.findall(html[html.index('id="scope-folder"'):html.index("</select>", html.index(  # noqa: E731
        'id="scope-folder"'))])
    assert scope(admin_html) == [("", "", "the whole organisation Acme"), (str(a.pk), "", "📁 a"),
                                 (str(sub.pk), " selected", "📁 a / a-sub"), (str(b.pk), "", "📁 b")]
    assert scope(viewer_html) == [("", "", "the whole organisation Acme"), (str(a.pk), "", "📁 a"),
                                  (str(sub.pk), "", "📁 a / a-sub")]


def _logged(client, user):
    client.force_login(user)
    return client


SIDEBAR = {
    "enum values OR within the key": (
        "?in:camera=cam3&in:camera=cam4", lambda m, i: m.get("camera") in ("cam3", "cam4")),
    "AND across keys": (
        "?in:camera=cam3&in:camera=cam4&min:score=0.5&is:night=false",
        lambda m, i: m.get("camera") in ("cam3", "cam4") and number(m.get("score")) and m["score"] >= 0.5
        and m.get("night") is False),
    "number range": (
        "?min:score=0.2&max:score=0.4", lambda m, i: number(m.get("score")) and 0.2 <= m["score"] <= 0.4),
    "datetime range (UTC when no offset)": (
        "?min:captured=2026-11-05T00:00&max:captured=2026-11-12T12:00",
        lambda m, i: instant(m.get("captured")) is not None
        and instant("2026-11-05T00:00:00Z") <= instant(m["captured"]) <= instant("2026-11-12T12:00:00Z")),
    "varchar contains": (
        "?text:site=berlin", lambda m, i: isinstance(m.get("site"), str) and "berlin" in m["site"].lower()),
    "varchar prefix": (
        "?text:site=Berlin&match:site=prefix",
        lambda m, i: isinstance(m.get("site"), str) and m["site"].startswith("Berlin")),
    "missing key": ("?has:camera=no", lambda m, i: "camera" not in m),
    "has key": ("?has:site=yes", lambda m, i: "site" in m),
    "built-in type": ("?in:$type=video", lambda m, i: i.item_type == "video"),
    "built-in name": ("?text:$name=-00", lambda m, i: "-00" in i.name),
    "sidebar AND written expression": (
        "?is:night=true&q=score+%3C%3D+0.3", lambda m, i: m.get("night") is True and number(m.get("score"))
        and m["score"] <= 0.3),
}


@pytest.mark.parametrize("case", list(SIDEBAR))
def test_sidebar_filters_match_the_python_computed_sets(client, world, case):
    query, rule = SIDEBAR[case]
    client.force_login(world["admin"])

    shown, count, _ = explore_all(client, query)

    want = expected(world, rule)
    assert len(shown) == len(set(shown)) == count == len(want)
    assert set(shown) == want
    assert 0 < count < 200


def test_the_sidebar_keeps_its_values_from_the_url(client, world):
    client.force_login(world["admin"])
    html = client.get(URL + "?in:camera=cam3&min:score=0.5&is:night=false&text:site=Ber&match:site=prefix"
                            "&has:captured=no&sort=key:score&dir=asc&q=not+night").content.decode()

    assert '<input type="checkbox" name="in:camera" value="cam3" checked>' in html
    assert '<input type="checkbox" name="in:camera" value="cam4">' in html
    assert 'name="min:score" value="0.5"' in html
    assert '<option value="false" selected>false</option>' in html
    assert 'name="text:site" value="Ber"' in html and '<option value="prefix" selected>' in html
    assert '<option value="no" selected>missing captured</option>' in html
    assert '<option value="key:score" selected>score</option>' in html
    assert '<option value="asc" selected>ascending</option>' in html
    assert '>not night</textarea>' in html
    assert html.count('data-facet-counts="') == 3 + 5  # the facets API's hook: type, name, duplicate, each key


@pytest.mark.parametrize(("query", "errors"), [
    ("?q=score+%3E", [("q", 'At position 7: expected a value (a "string", a number, true, false or [list]), '
                           "found the end of the expression.")]),
    ("?q=score+%3E+%27high%27", [("q", 'At position 0: "gt" on key "score" compares numbers; got "high".')]),
    ("?q=camera+%3D+%27cam9%27", [("q", 'At position 0: key "camera" is one of "cam1", "cam2", "cam3", "cam4"; '
                                        'got "cam9".')]),
    ("?min:score=abc", [("min:score", "min:score Not a number: 'abc'.")]),
    ("?min:captured=yesterday", [("filter.and[0]", 'filter.and[0] key "captured" compares datetimes (ISO 8601, '
                                                   'e.g. "2026-12-01T10:00:00+02:00"); got "yesterday".')]),
    ("?folder=nope", [("folder", "folder Not a folder id.")]),
])
def test_a_refused_filter_shows_its_message_and_position_on_a_200(client, world, query, errors):
    client.force_login(world["admin"])

    response = client.get(URL + query)

    assert errors_of(response) == errors
    assert page_of(response) == ([], None, None)
    assert 'id="facets"' in response.content.decode()  # the page is whole: fix the filter in place


def test_a_stale_page_token_is_refused_not_a_500(client, world):
    client.force_login(world["admin"])

    response = client.get(URL + "?after=garbage")

    assert errors_of(response) == [("page_token", "page_token Not a page token of this search and sort "
                                                  "(not a page token).")]


@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(("sort", "value_of"), [
    ("key:score", lambda i: i.client_metadata.get("score") if number(i.client_metadata.get("score")) else None),
    ("key:camera", lambda i: i.client_metadata.get("camera")),
    ("field:width", lambda i: i.width),
])
def test_sort_by_a_key_or_built_in_either_direction_missing_last(client, world, sort, value_of, desc):
    client.force_login(world["admin"])

    shown, count, _ = explore_all(client, f"?sort={sort}&dir={'desc' if desc else 'asc'}")

    assert count == 200
    assert shown == _sort_order(world, value_of, desc=desc)


def test_table_view_shows_the_chosen_columns(client, world):
    client.force_login(world["admin"])
    item = next(i for i in world["items"] if i.client_metadata.get("site") and i.client_metadata.get("camera"))

    response = client.get(f"{URL}?view=table&col=field:name&col=key:site&col=key:camera&col=field:width"
                          f"&text:$name={item.name}")

    html = response.content.decode()
    assert re.findall(r'<th data-column="([^"]+)">([^<]+)</th>', html) == [
        ("field:name", "name"), ("key:site", "site"), ("key:camera", "camera"), ("field:width", "width")]
    row = re.search(rf'<tr class="result-row" data-item="{item.pk}".*?</tr>', html, re.S).group()
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]
    assert cells == [item.name, item.client_metadata["site"], item.client_metadata["camera"], str(item.width)]


def test_a_tile_links_the_item_page_and_its_hover_title_names_it(client, world):
    client.force_login(world["admin"])
    item = next(i for i in world["items"] if len(i.client_metadata) >= 2)

    html = client.get(f"{URL}?text:$name={item.name}").content.decode()

    tile = re.search(r'<a class="item-card result-tile" href="([^"]+)" title="([^"]*)"', html)
    # The link carries the result it was opened from: the item page walks it with previous/next.
    origin = f"{URL}?{urlencode({'text:$name': item.name})}"
    assert unescape(tile.group(1)) == f"/items/{item.pk}/?{urlencode({'from': origin})}"
    lines = unescape(tile.group(2)).split("\n")
    assert lines[0] == item.name and len(lines) == 1 + min(4, len(item.client_metadata))
    assert all(line.split(": ")[0] in item.client_metadata for line in lines[1:])


def test_the_results_fragment_for_htmx(client, world):
    client.force_login(world["admin"])

    html = client.get(URL + "?in:camera=cam1", headers={"HX-Request": "true", "HX-Target": "results"}).content.decode()

    # The facets fragment follows the same state (the sidebar loads it after the swap).
    facets_url = f"/explore/facets?in%3Acamera=cam1&amp;organisation={world['org'].pk}"
    assert html.lstrip().startswith(f'<div id="results" data-facets-url="{facets_url}">')
    assert 'id="facets"' not in html
    assert int(COUNT.search(html).group(1)) == len(expected(world, lambda m, i: m.get("camera") == "cam1"))


def test_navigation_and_folder_pages_link_the_explorer(client, world):
    client.force_login(world["admin"])

    assert '<a href="/explore/">Explorer</a>' in client.get("/").content.decode()
    folder_html = client.get(world["a"].get_absolute_url()).content.decode()
    assert (f'<a id="explore-folder" href="/explore/?organisation={world["org"].pk}&amp;folder={world["a"].pk}">'
            in folder_html)


def test_htmx_pushes_the_short_form_of_the_url(client, world):
    """The form sends every control; the address bar gets only what differs from the defaults."""
    client.force_login(world["admin"])
    org = world["org"].pk
    sent = (f"?organisation={org}&in:camera=cam1&in:camera=cam2&has:camera=&min:score=&max:score=0.5"
            "&match:site=contains&text:site=&match:$name=prefix&text:$name=frame&q=not+night&sort=field:created"
            "&dir=desc&view=grid&col=field:type&col=field:name&col=field:created&sub=0&sub=1")

    response = client.get(URL + sent, headers={"HX-Request": "true", "HX-Target": "results"})

    assert response["HX-Push-Url"] == (f"/explore/?organisation={org}&in%3Acamera=cam1&in%3Acamera=cam2"
                                       "&max%3Ascore=0.5&match%3A%24name=prefix&text%3A%24name=frame&q=not+night")
    _, more, _ = page_of(client.get(URL + f"?organisation={org}&q=&sort=field:created&dir=desc&view=grid"))
    assert more.startswith(f"/explore/?organisation={org}&after=")


BAD_INPUTS = [
    "?min:score=1e999", "?max:score=-Infinity", "?min:score=NaN", "?min:score=" + "9" * 400,
    "?min:captured=99999-01-01", "?q=" + "(" * 5000, "?q=" + "x" * 20_000, "?after=" + "A" * 50_000,
    "?sort=key:nope&dir=sideways&view=grid2&col=key:nope", "?in:camera=cam9", "?q=captured+>+%2299999-01-01%22",
    "?q=score+>+" + "9" * 400, "?q=score+in+(1,+" + "9" * 400 + ")", "?q=width+between+0+and+" + "9" * 400,
]
# Refused before any view runs by the site's input guard (a 400 page saying why): NUL and broken encodings.
GUARDED = ["?text:site=a%00b", "?q=site+contains+%22a%00b%22", "?min:captured=%00", "?after=%FF%FE",
           "?folder=%00", "?q=%zz", "?q=%E2%82"]


@pytest.mark.parametrize("query", BAD_INPUTS)
def test_bad_input_in_the_url_is_shown_or_ignored_never_a_500(client, world, query):
    client.force_login(world["admin"])

    response = client.get(URL + query)

    html = response.content.decode()
    assert response.status_code == 200 and "Traceback" not in html
    shown, _, count = page_of(response)
    if count is None:  # refused: the page says why
        assert errors_of(response) != []
    else:  # ignored: unusable sorts, views, columns and enum values fall back to the defaults
        assert count in (0, 200)


@pytest.mark.parametrize("query", GUARDED)
def test_nul_and_broken_encodings_are_refused_by_the_site_guard(client, world, query):
    client.force_login(world["admin"])

    response = client.get(URL + query)

    assert response.status_code == 400 and "Traceback" not in response.content.decode()


def test_an_integer_past_the_float_range_is_refused_by_the_compiler_not_a_500(world):
    """Found by the page's bad-input test: math.isfinite(10**400) raised OverflowError (a 500 on the page
    and on POST /api/v1/explore/search with {"q": "score > 1000...0"})."""
    from apps.core.errors import ServiceValidationError
    from apps.explorer.expression import parse_expression
    from apps.explorer.selectors import explore_count

    for expression in ("score > 1" + "0" * 400, "$width < -1" + "0" * 400):
        with pytest.raises(ServiceValidationError) as refused:
            explore_count(user=world["admin"], organisation=world["org"], tree=parse_expression(expression))
        assert refused.value.message_dict == {"q": [
            f"At position 0: a number in a filter is at most 2**53 in size; got {expression.split()[-1][:60]}."]}


@pytest.mark.parametrize(("query", "mark"), [
    ("?q=score+%3E", "score &gt;<mark> </mark>"),
    ("?q=night+and+camera+%3D+%27cam9%27", "night and <mark>c</mark>amera = &#x27;cam9&#x27;"),
    ("?in:camera=cam1&q=score+%3E+1+or+%28", "score &gt; 1 or (<mark> </mark>"),
])
def test_a_refused_expression_is_marked_where_its_error_is(client, world, query, mark):
    client.force_login(world["admin"])

    html = client.get(URL + query).content.decode()

    assert f'<code class="expression-mark" id="expression-mark">{mark}</code>' in html


def test_the_number_of_queries_does_not_grow_with_the_tiles(client, world):
    """Thumbnails read each item's integration and table cells its folder: fetched once per page, not per row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.storage.services.integrations import integration_builtin_get_or_create

    integration = integration_builtin_get_or_create(organisation=world["org"])
    Item.objects.filter(organisation=world["org"]).update(integration=integration)
    client.force_login(world["admin"])
    client.get(URL)  # the session and the like, once
    counts = []
    for query in ("?text:$name=frame-00", "", "?view=table&col=field:folder&col=key:site"):
        with CaptureQueriesContext(connection) as captured:
            shown, _, _ = page_of(client.get(URL + query))
        counts.append((len(shown), len(captured.captured_queries)))
    assert [n for n, _ in counts] == [10, 60, 60]  # frame-000..009; a full page in grid and in table
    assert len({queries for _, queries in counts}) == 1, counts
