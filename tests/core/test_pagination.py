"""The one keyset paginator (``apps.core.pagination``) that the REST API, the Encord routes, the folder's
item grid and the item history all page with: no row skipped or repeated (ties included), both ways,
and tokens that are refused when forged or made for another listing."""

from __future__ import annotations

import base64
import json

import pytest

from apps.core.pagination import PageTokenError, keyset_neighbours, keyset_page
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create

NAMES = ["b", "a", "c", "a", "b", "a", "d"]  # ties on purpose: the pk breaks them


@pytest.fixture
def items(db, org, make_user):
    user = make_user(org, email="editor@example.com")
    folder = folder_create(user=user, name="data", organisation=org)
    return [Item.objects.create(organisation=org, folder=folder, item_type=ItemType.IMAGE, name=name,
                                url=f"https://h/{i}.jpg", status=ItemStatus.READY) for i, name in enumerate(NAMES)]


def _walk(queryset, ordering, size, *, backwards_from=None):
    pages, token = [], backwards_from
    while True:
        page = keyset_page(queryset, ordering=ordering, page_size=size, token=token)
        pages.append([row.pk for row in page.rows])
        token = page.previous_token if backwards_from else page.next_token
        if token is None:
            return pages, page


@pytest.mark.parametrize("ordering", [("name", "uuid"), ("-name",), ("name",), ("-created_at", "-uuid")])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 8])
def test_pages_hold_every_row_once_in_order_both_ways(items, ordering, size):
    queryset = Item.objects.all()
    expected = [item.pk for item in queryset.order_by(*ordering, *(() if "uuid" in " ".join(ordering) else
                                                                     ("-uuid" if ordering[-1][0] == "-" else "uuid",)))]

    forward, last = _walk(queryset, ordering, size)
    assert [pk for page in forward for pk in page] == expected
    assert [len(page) for page in forward] == [min(size, len(NAMES) - i) for i in range(0, len(NAMES), size)]

    if len(forward) > 1:  # from the last page back to the first, through previous tokens
        backward, _ = _walk(queryset, ordering, size, backwards_from=last.previous_token)
        assert backward == forward[-2::-1]


def test_a_forged_or_foreign_token_is_refused(items):
    queryset = Item.objects.all()
    token = keyset_page(queryset, ordering=("name",), page_size=2).next_token

    def forged(*parts) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()

    refused = [
        keyset_page_refuses(queryset, ("-name",), token),  # made for another ordering
        keyset_page_refuses(queryset, ("name",), "not-base64!"),
        keyset_page_refuses(queryset, ("name",), forged(">", "name,pk", 5, str(items[0].pk))),  # a name is text
        keyset_page_refuses(queryset, ("name",), forged(">", "name,pk", "a", "not-a-uuid")),
        keyset_page_refuses(queryset, ("name",), forged("?", "name,pk", "a", str(items[0].pk))),
        keyset_page_refuses(queryset, ("name",), forged(">", "name,pk", "a")),
        keyset_page_refuses(queryset, ("name",), "A" * 5000),
    ]
    assert refused == [True] * 7
    assert [row.name for row in keyset_page(queryset, ordering=("name",), page_size=2, token=token).rows] == ["a", "b"]


def keyset_page_refuses(queryset, ordering, token) -> bool:
    try:
        keyset_page(queryset, ordering=ordering, page_size=2, token=token)
    except PageTokenError:
        return True
    return False


def test_rest_pages_link_forward_and_back(api_for, transactional_db, org, make_user):
    user = make_user(org, email="viewer@example.com")
    folder = folder_create(user=user, name="data", organisation=org)
    for i in range(5):
        Item.objects.create(organisation=org, folder=folder, item_type=ItemType.IMAGE, name=f"n{i}",
                            url=f"https://h/{i}.jpg", status=ItemStatus.READY)
    api = api_for(user)

    first = api.get(f"/api/v1/folders/{folder.pk}/items", params={"page_size": 2}).json()
    second = api.get(first["next"].split(api.base)[1]).json()
    back = api.get(second["previous"].split(api.base)[1]).json()
    bad = api.get(f"/api/v1/folders/{folder.pk}/items", params={"cursor": "forged"})

    assert [r["name"] for r in first["results"]] == ["n0", "n1"] and first["previous"] is None
    assert [r["name"] for r in second["results"]] == ["n2", "n3"]
    assert [r["name"] for r in back["results"]] == ["n0", "n1"] and back["previous"] is None
    assert (bad.status_code, bad.json()) == (404, {"detail": "Invalid cursor"})


def test_item_history_pages_through_every_change_once(client, db, org, make_user):
    import html
    import re

    from apps.metadata.services.updates import item_metadata_merge

    user = make_user(org, email="editor2@example.com")
    folder = folder_create(user=user, name="data", organisation=org)
    item = Item.objects.create(organisation=org, folder=folder, item_type=ItemType.IMAGE, name="i.jpg",
                               url="https://h/i.jpg", status=ItemStatus.READY)
    changes = [item_metadata_merge(user=user, item=item, patch={"n": n}).pk for n in range(30)]
    client.force_login(user)

    def rows_and_more(body: str):
        more = re.search(r'<tr class="more"><td colspan="5"><a href="([^"]+)"', body)
        return [int(pk) for pk in re.findall(r'data-change="([0-9]+)"', body)], more and html.unescape(more.group(1))

    first, more = rows_and_more(client.get(f"/items/{item.pk}/").content.decode())
    second, last = rows_and_more(client.get(more).content.decode())
    tampered, _ = rows_and_more(client.get(f"/metadata/items/{item.pk}/history?before=2026-01-01,5").content.decode())

    assert first + second == changes[::-1] and (len(first), last) == (25, None)
    assert tampered == changes[::-1][:25]  # an old-style or forged link starts again at the newest


WIDTHS = [300, None, 100, 300, None, 200, None]  # NULLs and ties on purpose


@pytest.mark.parametrize("desc", [False, True])
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_nulls_last_annotations_page_with_their_nulls_after_every_value_both_ways(items, desc, size):
    from django.db.models import F

    for item, width in zip(items, WIDTHS):
        Item.objects.filter(pk=item.pk).update(width=width)
    queryset = Item.objects.annotate(sort_0=F("width"))
    ordering = ("-sort_0",) if desc else ("sort_0",)
    present = sorted(((w, i.pk) for i, w in zip(items, WIDTHS) if w is not None), reverse=desc)
    missing = sorted((i.pk for i, w in zip(items, WIDTHS) if w is None), reverse=desc)
    expected = [pk for _, pk in present] + missing

    pages, token = [], None
    while True:
        page = keyset_page(queryset, ordering=ordering, page_size=size, token=token, nulls_last=("sort_0",),
                           listing="width")
        pages.append([row.pk for row in page.rows])
        token = page.next_token
        if token is None:
            break
    assert [pk for p in pages for pk in p] == expected
    if len(pages) > 1:  # and back, through previous tokens, across the NULL boundary
        back, token = [], page.previous_token
        while token is not None:
            previous = keyset_page(queryset, ordering=ordering, page_size=size, token=token, nulls_last=("sort_0",),
                                   listing="width")
            back.append([row.pk for row in previous.rows])
            token = previous.previous_token
        assert back == pages[-2::-1]
    with pytest.raises(PageTokenError):  # a token of the same names sorting something else
        keyset_page(queryset, ordering=ordering, page_size=size, nulls_last=("sort_0",), listing="height",
                    token=keyset_page(queryset, ordering=ordering, page_size=1, nulls_last=("sort_0",),
                                      listing="width").next_token)


@pytest.mark.parametrize("desc", [False, True])
def test_neighbours_are_the_rows_either_side_in_the_paged_order_across_nulls(items, desc):
    """``keyset_neighbours`` walks the order ``keyset_page`` pages (NULLs last either way, the pk breaking ties):
    the item page's previous/next."""
    from django.db.models import F

    for item, width in zip(items, WIDTHS):
        Item.objects.filter(pk=item.pk).update(width=width)
    queryset = Item.objects.annotate(sort_0=F("width"))
    ordering = ("-sort_0",) if desc else ("sort_0",)
    paged = [row.pk for row in keyset_page(queryset, ordering=ordering, page_size=len(items), nulls_last=("sort_0",),
                                           listing="width").rows]

    around = [keyset_neighbours(queryset, ordering=ordering, pk=pk, nulls_last=("sort_0",)) for pk in paged]

    assert [(p.pk if p else None, n.pk if n else None) for p, n in around] == list(
        zip([None, *paged[:-1]], [*paged[1:], None]))
    assert keyset_neighbours(queryset.exclude(pk=paged[2]), ordering=ordering, pk=paged[2],
                             nulls_last=("sort_0",)) is None  # not in the result: no walk
