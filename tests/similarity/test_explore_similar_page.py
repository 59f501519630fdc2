"""The Explorer page's "more like this" and the item page's form, through Django's test client: the
grid nearest first within the filter, distances on tiles, the way back, and refusals shown on the page."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import numpy as np
import pytest

from tests.similarity.fixtures import build, exact_nearest

N, SIZE = 40, 8


@pytest.fixture
def world(db, org, make_user, client):
    admin = make_user(org, role="admin")
    folder_a, folder_b, items, vectors, u = build(org, admin, n=N, size=SIZE, clusters=4)
    client.force_login(admin)
    return {"admin": admin, "org": org, "items": items, "vectors": vectors, "u": u, "client": client}


def tiles(html: str) -> list[str]:
    return re.findall(r'class="item-card result-tile" href="[^"]*" title="[^"]*" data-item="([^"]+)"', html)


def test_more_like_this_grid_is_nearest_first_within_the_filter(world):
    items, client = world["items"], world["client"]
    query = {"organisation": str(world["org"].pk), "q": 'camera = "cam1"', "similar": "clip",
             "similar_item": str(items[1].pk)}
    html = client.get("/explore/?" + urlencode(query)).content.decode()
    mask = np.array([i % 3 != 0 for i in range(N)])
    mask[1] = False
    expected = [str(items[i].pk) for i, _ in exact_nearest(world["vectors"], world["vectors"][1], mask, 120)]
    assert tiles(html) == expected
    distances = [float(d) for d in re.findall(r'data-distance="([0-9.]+)"', html)]
    assert distances == sorted(distances) and len(distances) == len(expected)
    assert 'id="similar-banner"' in html and f'>{items[1].name}</a>' in html
    back = re.search(r'href="([^"]+)" id="similar-back"', html).group(1)
    assert "similar" not in back and "q=camera" in back
    assert f'<strong>{len(expected)}</strong> items' in html
    assert 'data-more-like-this="' in html and 'id="similar-config" value="clip"' in html
    assert 'name="similar_item" value="%s"' % items[1].pk in html  # a filter change keeps the similarity

    fragment = client.get("/explore/?" + urlencode({**query, "q": ""}),
                          headers={"HX-Request": "true", "HX-Target": "results"}).content.decode()
    everything = np.arange(N) != 1
    assert tiles(fragment) == [str(items[i].pk) for i, _ in exact_nearest(world["vectors"], world["vectors"][1],
                                                                          everything, 120)]


def test_refusals_show_on_the_page(world):
    client, org = world["client"], world["org"]
    html = client.get(f"/explore/?organisation={org.pk}&similar=clip&similar_item=00000000-0000-0000-0000-000000000001")
    assert html.status_code == 200
    assert 'data-place="similar_item"' in html.content.decode()
    assert "No such item, or not one you may see." in html.content.decode()
    html = client.get(f"/explore/?organisation={org.pk}&similar=clip").content.decode()
    assert "Nearest to what? Give similar_item or similar_text." in html
    html = client.get(f"/explore/?organisation={org.pk}&similar=u&similar_item={world['items'][0].pk}").content.decode()
    assert 'Key &quot;u&quot; is a number key, not an embedding.' in html
    html = client.get(f"/explore/?organisation={org.pk}&similar=clip&similar_text=a%20red%20car").content.decode()
    assert "has no embedder that takes a text" in html


def test_item_page_offers_more_like_this_with_the_result_it_came_from(world):
    client, items, org = world["client"], world["items"], world["org"]
    origin = f"/explore/?organisation={org.pk}&q=camera+%3D+%22cam1%22&similar=clip&similar_item={items[2].pk}"
    html = client.get(f"/items/{items[1].pk}/?from={quote(origin)}").content.decode()
    form = re.search(r'<form class="item-similar" id="item-similar" method="get" action="/explore/">(.*?)</form>',
                     html, re.S).group(1)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    assert hidden == {"q": 'camera = &quot;cam1&quot;', "organisation": str(org.pk), "similar_item": str(items[1].pk),
                      "similar": "clip"}


def test_sentence_box_and_image_search_use_the_keys_embedder(world, monkeypatch):
    """With a key whose embedder takes text and images (stubbed here: H2's embedders module supplies the
    real ones), the page shows the sentence box and the upload, and both list the nearest items first."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.metadata.models import MetadataKey
    from apps.similarity import embedders

    client, org, items, vectors = world["client"], world["org"], world["items"], world["vectors"]
    key = MetadataKey.objects.get(organisation=org, name="clip")
    monkeypatch.setattr(embedders, "text_keys", lambda organisation: [key])
    monkeypatch.setattr(embedders, "image_keys", lambda organisation: [key])
    monkeypatch.setattr(embedders, "embed_text", lambda *, key, text: vectors[5].tolist())
    monkeypatch.setattr(embedders, "embed_image", lambda *, key, data: vectors[6].tolist() if data == b"png" else [])
    html = client.get(f"/explore/?organisation={org.pk}").content.decode()
    assert 'id="sentence-text"' in html and 'id="image-search-file"' in html

    html = client.get(f"/explore/?organisation={org.pk}&similar=clip&similar_text=a+red+car").content.decode()
    assert tiles(html) == [str(items[i].pk) for i, _ in exact_nearest(vectors, vectors[5], np.ones(N, bool), 120)]
    assert '“<span id="similar-text">a red car</span>”' in html

    upload = SimpleUploadedFile("query.png", b"png", content_type="image/png")
    html = client.post(f"/explore/similar-image?organisation={org.pk}&q=camera+%3D+%22cam1%22",
                       {"similar": "clip", "image": upload}).content.decode()
    mask = np.array([i % 3 != 0 for i in range(N)])
    assert tiles(html) == [str(items[i].pk) for i, _ in exact_nearest(vectors, vectors[6], mask, 120)]
    assert "the uploaded image" in html
    html = client.post(f"/explore/similar-image?organisation={org.pk}", {"similar": "clip"}).content.decode()
    assert "An image file of at most 10 MB." in html


def test_an_item_opened_from_a_similar_result_walks_it_nearest_first(world):
    client, items, org, vectors = world["client"], world["items"], world["org"], world["vectors"]
    origin = f"/explore/?organisation={org.pk}&similar=clip&similar_item={items[1].pk}"
    order = [items[i].pk for i, _ in exact_nearest(vectors, vectors[1], np.arange(N) != 1, 120)]
    html = client.get(f"/items/{order[1]}/?from={quote(origin)}").content.decode()
    assert re.search(rf'id="item-prev" rel="prev" href="/items/{order[0]}/\?from=', html)
    assert re.search(rf'id="item-next" rel="next" href="/items/{order[2]}/\?from=', html)
    source = client.get(f"/items/{items[1].pk}/?from={quote(origin)}").content.decode()
    assert 'id="item-walk"' not in source  # the source is not among its own nearest items
