"""``POST /api/v1/explore/search`` with ``similar_to`` over real HTTP: nearest first against numpy, filter
and scope applied, every refusal with its place and message, and who may see what."""

from __future__ import annotations

import numpy as np
import pytest

from apps.metadata.models import Embedding, MetadataKey
from apps.storage.models import FolderRole, Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_member_set
from tests.encord_compat.helpers import schema_add
from tests.factories import OrganisationFactory
from tests.similarity.fixtures import build, exact_nearest

URL = "/api/v1/explore/search"
N, SIZE = 60, 8


@pytest.fixture
def world(transactional_db, org, make_user, api_for):
    admin = make_user(org, role="admin")
    folder_a, folder_b, items, vectors, u = build(org, admin, n=N, size=SIZE, clusters=5)
    return {"admin": admin, "org": org, "a": folder_a, "b": folder_b, "items": items, "vectors": vectors, "u": u,
            "api": api_for(admin), "api_for": api_for, "make_user": make_user}


def _expected(world, row, mask, k):
    mask = mask.copy()
    mask[row] = False
    return [(str(world["items"][i].pk), d) for i, d in exact_nearest(world["vectors"], world["vectors"][row], mask, k)]


def _check(answer, expected):
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert [r["uuid"] for r in data["results"]] == [pk for pk, _ in expected]
    assert max(abs(r["distance"] - d) for r, (_, d) in zip(data["results"], expected)) < 1e-5
    assert data["count"] == len(expected) and data["count_exact"] is True and data["next_page_token"] is None
    return data


def test_more_like_this_item_nearest_first_within_filter_and_scope(world):
    items, api = world["items"], world["api"]
    everything = np.ones(N, dtype=bool)
    data = _check(api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[4].pk)}, "k": 10}),
                  _expected(world, 4, everything, 10))
    assert set(data["results"][0]) == {"uuid", "name", "type", "folder", "status", "created_at", "width", "height",
                                       "duration", "fps", "file_size", "metadata", "thumbnail_url", "distance"}
    cam2 = np.array([i % 3 == 0 for i in range(N)])
    _check(api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[4].pk)}, "k": 7,
                               "q": 'camera = "cam2"'}), _expected(world, 4, cam2, 7))
    in_b_and_low_u = np.array([i % 2 == 1 for i in range(N)]) & (world["u"] < 0.5)
    _check(api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[4].pk)},
                               "scope": {"folder": str(world["b"].pk)},
                               "filter": {"key": "u", "op": "lt", "value": 0.5}}),
           _expected(world, 4, in_b_and_low_u, 50))


def test_raw_vector_default_k_and_all_when_fewer(world):
    api, vectors = world["api"], world["vectors"]
    query = (vectors[0] + 0.5 * vectors[1]).tolist()
    reference = np.vstack([world["vectors"], np.asarray(query, dtype=np.float32)])
    expected = [(str(world["items"][i].pk), d) for i, d in exact_nearest(reference[:N], reference[N], np.ones(N, bool), 50)]
    _check(api.post(URL, json={"similar_to": {"key": "clip", "vector": query}}), expected)  # k defaults to 50
    data = api.post(URL, json={"similar_to": {"key": "clip", "vector": query}, "k": 1000}).json()
    assert data["count"] == N and len({r["uuid"] for r in data["results"]}) == N


def test_a_frame_vector_is_the_query_and_frames_are_never_results(world):
    items, vectors, api = world["items"], world["vectors"], world["api"]
    key = MetadataKey.objects.get(organisation=world["org"], name="clip")
    Embedding.objects.create(key=key, item=items[0], frame=3, vector=vectors[9].tolist())
    expected = [(str(items[i].pk), d) for i, d in exact_nearest(vectors, vectors[9], np.arange(N) != 0, 5)]
    data = _check(api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[0].pk), "frame": 3}, "k": 5}),
                  expected)
    assert data["results"][0]["uuid"] == str(items[9].pk) and data["results"][0]["distance"] < 1e-6


@pytest.mark.parametrize(("body", "answer"), [
    ({"similar_to": {"key": "nope", "vector": [1] * SIZE}}, {"similar_to.key": ['Unknown key "nope".']}),
    ({"similar_to": {"key": "u", "vector": [1] * SIZE}}, {"similar_to.key": ['Key "u" is a number key, not an embedding.']}),
    ({"similar_to": {"key": "clip", "vector": [1] * (SIZE + 1)}},
     {"similar_to.vector": [f'Key "clip" holds {SIZE}-d vectors; this one has {SIZE + 1}.']}),
    ({"similar_to": {"key": "clip", "vector": [1, "x", 1, 1, 1, 1, 1, 1]}},
     {"similar_to.vector[1]": ["A finite number (no NaN, no infinity, no string)."]}),
    ({"similar_to": {"key": "clip", "vector": [1, True, 1, 1, 1, 1, 1, 1]}},
     {"similar_to.vector[1]": ["A finite number (no NaN, no infinity, no string)."]}),
    ({"similar_to": {"key": "clip", "vector": [1e39] + [1] * (SIZE - 1)}},
     {"similar_to.vector[0]": ["Out of the float32 range."]}),
    ({"similar_to": {"key": "clip", "vector": [0] * SIZE}},
     {"similar_to.vector": ["A zero vector has no direction: cosine distance is undefined."]}),
    ({"similar_to": {"key": "clip", "vector": "1,2"}}, {"similar_to.vector": [f"A list of {SIZE} numbers."]}),
    ({"similar_to": {"key": "clip", "text": "a red car"}},
     {"similar_to.text": ['Key "clip" has no embedder that takes a text: an admin can set one in the metadata schema.']}),
    ({"similar_to": {"key": "clip", "text": ""}}, {"similar_to.text": ["A sentence of 1 to 2000 characters."]}),
    ({"similar_to": {"key": "clip", "image": "aGVsbG8="}},
     {"similar_to.image": ['Key "clip" has no embedder that takes an image: an admin can set one in the metadata schema.']}),
    ({"similar_to": {"key": "clip", "image": "not base64!"}}, {"similar_to.image": ["Not valid base64."]}),
    ({"similar_to": {"key": "clip", "item": "not-a-uuid"}}, {"similar_to.item": ["An item uuid."]}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE, "item": None}},
     {"similar_to": ['Give exactly one of "item", "vector", "text", "image".']}),
    ({"similar_to": {"key": "clip"}}, {"similar_to": ['Give exactly one of "item", "vector", "text", "image".']}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE, "frame": 2}}, {"similar_to.frame": ['"frame" goes with "item".']}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE, "colour": 1}}, {"similar_to.colour": ["Unknown member."]}),
    ({"similar_to": ["clip"]}, {"similar_to": ['An object: {"key": <embedding key>, and one of "item", "vector", '
                                               '"text", "image"}.']}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE}, "k": 0}, {"k": ["A whole number from 1 to 1000 (default 50)."]}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE}, "k": 1001}, {"k": ["A whole number from 1 to 1000 (default 50)."]}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE}, "k": "5"}, {"k": ["A whole number from 1 to 1000 (default 50)."]}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE}, "sort": [{"field": "name"}]},
     {"sort": ['Results of similar_to come nearest first, k of them in one answer: leave "sort" out ("k" sets how many).']}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE}, "page_token": "abc"},
     {"page_token": ['Results of similar_to come nearest first, k of them in one answer: leave "page_token" out '
                     '("k" sets how many).']}),
    ({"similar_to": {"key": "clip", "vector": [1] * SIZE}, "page_size": 10},
     {"page_size": ['Results of similar_to come nearest first, k of them in one answer: leave "page_size" out '
                    '("k" sets how many).']}),
    ({"k": 10}, {"k": ['"k" goes with "similar_to".']}),
])
def test_refusals_name_the_place(world, body, answer):
    response = world["api"].post(URL, json=body)
    assert response.status_code == 400 and response.json() == answer


def test_nan_and_an_item_without_a_vector_are_refused(world):
    api = world["api"]
    nan = api.post(URL, data='{"similar_to": {"key": "clip", "vector": [NaN, 1, 1, 1, 1, 1, 1, 1]}}',
                   headers={"Content-Type": "application/json"})
    assert nan.status_code == 400 and "NaN" in nan.json()["detail"]
    bare = Item.objects.create(organisation=world["org"], folder=world["a"], item_type=ItemType.IMAGE, name="bare.jpg",
                               status=ItemStatus.READY)
    response = api.post(URL, json={"similar_to": {"key": "clip", "item": str(bare.pk)}})
    assert response.status_code == 400 and response.json() == {"similar_to.item": [f'Item {bare.pk} has no "clip" vector.']}
    framed = api.post(URL, json={"similar_to": {"key": "clip", "item": str(world["items"][0].pk), "frame": 7}})
    assert framed.json() == {"similar_to.item": [f'Item {world["items"][0].pk} has no "clip" vector at frame 7.']}


def test_viewer_sees_only_granted_folders_outsider_gets_404(world):
    items, make_user = world["items"], world["make_user"]
    viewer = make_user(world["org"], role="member", email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=viewer, role=FolderRole.VIEWER)
    viewer_api = world["api_for"](viewer)
    in_a = np.array([i % 2 == 0 for i in range(N)])
    _check(viewer_api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[2].pk)}, "k": 1000}),
           _expected(world, 2, in_a, 1000))
    hidden = viewer_api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[3].pk)}})  # folder b
    assert hidden.status_code == 404 and hidden.json() == {"detail": "No such item."}
    data = viewer_api.post(URL, json={"similar_to": {"key": "clip", "vector": world["vectors"][3].tolist()}, "k": 1000})
    assert {r["uuid"] for r in data.json()["results"]} == {str(items[i].pk) for i in range(0, N, 2)}

    other = OrganisationFactory(name="Other")
    outsider = make_user(other, role="admin", email="out@example.com")
    outsider_api = world["api_for"](outsider)
    answer = outsider_api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[2].pk)}})
    assert answer.status_code == 400 and answer.json() == {"similar_to.key": ['Unknown key "clip".']}
    schema_add(outsider, other, clip=("embedding", SIZE))  # a key of the same name in their organisation
    answer = outsider_api.post(URL, json={"similar_to": {"key": "clip", "item": str(items[2].pk)}})
    assert answer.status_code == 404 and answer.json() == {"detail": "No such item."}
    trashed = items[0]
    Item.objects.filter(pk=trashed.pk).update(deleted_at="2026-12-01T00:00:00Z")
    gone = world["api"].post(URL, json={"similar_to": {"key": "clip", "item": str(trashed.pk)}})
    assert gone.status_code == 404
