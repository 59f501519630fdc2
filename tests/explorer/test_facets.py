"""``POST /api/v1/explore/facets`` over real HTTP and the Explorer fixture (200 items, three folders,
missing and mistyped values): every count and histogram checked against what Python computes from the
rows, following the filter and the caller's folders."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.explorer.expression import parse_expression
from apps.explorer.facets import HISTOGRAM_BINS, TOP_VALUES, explore_facets, facet_keys_from_json
from apps.storage.models import FolderRole, ItemStatus, ItemType
from apps.storage.services.folders import folder_member_set
from tests.encord_compat.helpers import schema_add
from tests.explorer.fixtures import CAMERAS
from tests.explorer.test_search_api import instant, number, world  # noqa: F401 (world: the shared fixture)

URL = "/api/v1/explore/facets"


# --------------------------------------------------------------------------- what Python expects


def pg_bucket(value: float, low: float, high: float) -> int:
    """The 1-based bin of ``value``: PostgreSQL's ``width_bucket`` with the maximum in the last bin."""
    if high == low:
        return 1
    if value >= high:
        return HISTOGRAM_BINS
    return min(int(HISTOGRAM_BINS * ((value - low) / (high - low))), HISTOGRAM_BINS - 1) + 1


def expected_histogram(values: list[float], total: int) -> dict:
    if not values:
        return {"bins": [], "counts": [], "min": None, "max": None, "missing": total}
    low, high = min(values), max(values)
    size = HISTOGRAM_BINS if high > low else 1
    counts = Counter(pg_bucket(v, low, high) for v in values)
    return {"bins": pytest.approx([low + (high - low) * i / size for i in range(size)] + [high]),
            "counts": [counts.get(b, 0) for b in range(1, size + 1)], "min": low, "max": high,
            "missing": total - len(values)}


def expected_counts(values: list, listed, total: int) -> dict:
    found = Counter(v for v in values if v is not None)
    return {"counts": [{"value": v, "count": found.pop(v, 0)} for v in listed], "other": sum(found.values()),
            "missing": sum(v is None for v in values) + (total - len(values))}


def assert_top(facet: dict, values: list) -> None:
    """The most frequent values (ties in any order), each with its count; the rest in ``other``."""
    present = [v for v in values if v is not None]
    found = Counter(present)
    listed = {c["value"]: c["count"] for c in facet["counts"]}
    assert len(facet["counts"]) == len(listed) == min(TOP_VALUES, len(found))
    assert all(found[value] == count for value, count in listed.items())
    shown = [c["count"] for c in facet["counts"]]
    assert shown == sorted(shown, reverse=True)
    assert all(count <= min(shown) for value, count in found.items() if value not in listed)
    assert facet["other"] == len(present) - sum(shown)
    assert facet["missing"] == len(values) - len(present)


def meta(items, rule) -> list:
    return [rule(i.client_metadata) for i in items]


def string(value):
    return value if isinstance(value, str) else None


def epoch(value) -> float | None:
    parsed = instant(value)
    return parsed.timestamp() if parsed is not None else None


def facets(api, body: dict) -> dict:
    answer = api.post(URL, json=body)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["approximate"], answer.json()["sample_percent"]) == (False, None)
    return {(f.get("key") or "$" + f["field"]): f for f in answer.json()["facets"]}


def check_all(answer: dict, items: list) -> None:
    """Every facet of ``EVERY_KEY`` against the rows ``items``."""
    total = len(items)
    assert answer["camera"] == {"key": "camera", "type": "enum",
                                **expected_counts(meta(items, lambda m: string(m.get("camera"))), CAMERAS, total)}
    assert answer["night"] == {"key": "night", "type": "boolean", **expected_counts(
        meta(items, lambda m: m.get("night") if isinstance(m.get("night"), bool) else None), [True, False], total)}
    scores = [s for s in meta(items, lambda m: m.get("score")) if number(s)]
    assert answer["score"] == {"key": "score", "type": "number", **expected_histogram(scores, total)}
    captured = [e for e in meta(items, lambda m: epoch(m.get("captured"))) if e is not None]
    histogram = expected_histogram(captured, total)
    shown = answer["captured"]
    assert {**shown, "bins": [datetime.fromisoformat(b).timestamp() for b in shown["bins"]],
            "min": epoch(shown["min"]), "max": epoch(shown["max"])} == {"key": "captured", "type": "datetime",
                                                                        **histogram}
    assert all(b.endswith("Z") for b in shown["bins"])
    assert answer["site"]["type"] == "varchar"
    assert_top(answer["site"], meta(items, lambda m: string(m.get("site"))))
    assert answer["speed"]["type"] == "untyped"
    assert_top(answer["speed"], meta(items, lambda m: m.get("speed")))
    widths = [i.width for i in items if i.width is not None]
    assert answer["$width"] == {"field": "width", "type": "number", **expected_histogram(widths, total)}
    assert answer["$height"] == {"field": "height", "type": "number",
                                 **expected_histogram([i.height for i in items], total)}
    assert answer["$type"] == {"field": "type", "type": "enum",
                               **expected_counts([i.item_type for i in items], ItemType.values, total)}
    assert answer["$status"] == {"field": "status", "type": "enum",
                                 **expected_counts([i.status for i in items], ItemStatus.values, total)}
    assert answer["$folder"]["type"] == "uuid"
    assert_top(answer["$folder"], [str(i.folder_id) for i in items])
    assert answer["$name"]["type"] == "varchar"
    assert_top(answer["$name"], [i.name for i in items])
    created = [i.created_at.timestamp() for i in items]
    assert answer["$created"]["counts"] == expected_histogram(created, total)["counts"]
    assert abs(epoch(answer["$created"]["min"]) - min(created)) < 1e-3


EVERY_KEY = ["camera", {"key": "night"}, "score", "captured", "site", "speed",
             {"field": "width"}, {"field": "height"}, {"field": "type"}, {"field": "status"},
             {"field": "folder"}, {"field": "name"}, {"field": "created"}]


# --------------------------------------------------------------------------- tests


def test_every_facet_of_the_whole_organisation_matches_python(world):
    answer = facets(world["api"], {"keys": EVERY_KEY})
    check_all(answer, world["items"])
    assert len(answer["$name"]["counts"]) == 50 and answer["$name"]["other"] == 150  # 200 distinct names
    assert answer["$height"]["bins"] == [480, 480] and answer["$height"]["counts"] == [200]  # min = max: one bin
    assert answer["score"]["missing"] == 40 + 0  # 20 without score, 20 with the string "high"


@pytest.mark.parametrize("q", [
    'camera in ("cam3","cam4") and score > 0.5',
    "not night or $width missing",
    "captured between '2026-11-05T00:00:00+01:00' and '2026-11-12T12:00:00Z' and speed exists",
])
def test_facets_follow_the_filter(world, q):
    from tests.explorer.test_search_api import search_all

    results, count, _ = search_all(world["api"], {"q": q}, page_size=200)
    matching = [i for i in world["items"] if str(i.pk) in {r["uuid"] for r in results}]
    assert 0 < count == len(matching) < 200
    check_all(facets(world["api"], {"q": q, "keys": EVERY_KEY}), matching)


def test_facets_follow_a_json_tree_and_the_scope_folder(world):
    tree = {"key": "camera", "op": "eq", "value": "cam2"}
    answer = facets(world["api"], {"scope": {"folder": str(world["a"].pk), "recursive": False}, "filter": tree,
                                   "keys": EVERY_KEY})
    matching = [i for i in world["items"] if i.folder_id == world["a"].pk and i.client_metadata.get("camera") == "cam2"]
    check_all(answer, matching)
    assert answer["camera"]["counts"] == [{"value": c, "count": len(matching) if c == "cam2" else 0} for c in CAMERAS]


def test_an_empty_result_has_zero_counts_and_no_bins(world):
    answer = facets(world["api"], {"q": "score > 5", "keys": ["score", "camera", "site", {"field": "created"}]})
    assert answer["score"] == {"key": "score", "type": "number", "bins": [], "counts": [], "min": None, "max": None,
                               "missing": 0}
    assert answer["camera"] == {"key": "camera", "type": "enum", "other": 0, "missing": 0,
                                "counts": [{"value": c, "count": 0} for c in CAMERAS]}
    assert answer["site"] == {"key": "site", "type": "varchar", "counts": [], "other": 0, "missing": 0}


def test_enum_values_written_before_the_declaration_are_other(world):
    from apps.storage.models import Item

    Item.objects.filter(pk=world["items"][1].pk).update(client_metadata={"camera": "cam9", "night": "yes"})
    answer = facets(world["api"], {"keys": ["camera", "night"]})
    assert answer["camera"]["other"] == 1
    assert answer["night"]["other"] == 0  # a string in a boolean key is not a boolean value: missing
    items = [i for i in world["items"] if i.pk != world["items"][1].pk]
    assert answer["night"]["missing"] == 1 + sum(not isinstance(i.client_metadata.get("night"), bool) for i in items)


def test_a_viewer_counts_only_their_folders_and_an_outsider_nothing(world):
    viewer = world["make_user"](world["org"], role="member", email="viewer@example.com")
    folder_member_set(user=world["admin"], folder=world["a"], member=viewer, role=FolderRole.VIEWER)
    granted = [i for i in world["items"] if i.folder_id in (world["a"].pk, world["sub"].pk)]
    check_all(facets(world["api_for"](viewer), {"keys": EVERY_KEY}), granted)
    hidden = world["api_for"](viewer).post(URL, json={"scope": {"folder": str(world["b"].pk)}, "keys": ["camera"]})
    assert hidden.status_code == 404

    from tests.factories import OrganisationFactory

    outsider = world["make_user"](OrganisationFactory(name="Other"), role="admin", email="out@example.com")
    answer = facets(world["api_for"](outsider), {"keys": ["camera", "score"]})
    assert answer["camera"]["counts"] == [] and answer["camera"]["type"] == "untyped"  # not declared there
    assert answer["score"]["counts"] == [] and answer["score"]["missing"] == 0


KIND_MESSAGE = ('key "{name}" is {kind}: facets count boolean, enum, varchar, uuid and undeclared keys and '
                "histogram number and datetime keys; a {kind} key has none.")


@pytest.mark.parametrize(("body", "answer"), [
    ({"keys": ["camera", "caption"]}, {"keys[1]": [KIND_MESSAGE.format(name="caption", kind="text")]}),
    ({"keys": [{"key": "place"}]}, {"keys[0]": [KIND_MESSAGE.format(name="place", kind="geospatial")]}),
    ({"keys": ["score", {"key": "clip"}]}, {"keys[1]": [KIND_MESSAGE.format(name="clip", kind="embedding")]}),
    ({"keys": [{"field": "colour"}]}, {"keys[0]": ['Unknown built-in field "colour": one of type, folder, name, '
                                                   "status, created, file_size, width, height, duration, fps, duplicate."]}),
    ({"keys": [{"key": "a", "field": "width"}]}, {"keys[0]": [
        'A facet key is "<metadata key>", {"key": <metadata key>} or {"field": <built-in>}.']}),
    ({"keys": [7]}, {"keys[0]": ['A facet key is "<metadata key>", {"key": <metadata key>} or {"field": <built-in>}.']}),
    ({"keys": []}, {"keys": ['A list of 1 to 20 keys: "<metadata key>", {"key": ...} or {"field": ...}.']}),
    ({"keys": "camera"}, {"keys": ['A list of 1 to 20 keys: "<metadata key>", {"key": ...} or {"field": ...}.']}),
    ({}, {"keys": ['A list of 1 to 20 keys: "<metadata key>", {"key": ...} or {"field": ...}.']}),
    ({"keys": ["camera"] * 21}, {"keys": ['A list of 1 to 20 keys: "<metadata key>", {"key": ...} or {"field": ...}.']}),
    ({"keys": ["camera"], "sort": []}, {"sort": ["Unknown member."]}),
    ({"keys": ["camera"], "q": "score >"}, {"q": ['At position 7: expected a value (a "string", a number, true, '
                                                  "false or [list]), found the end of the expression."]}),
    ({"keys": ["camera"], "filter": {"key": "score", "op": "prefix", "value": "1"}}, {"filter": [
        'key "score" is number: it takes between, eq, exists, gt, gte, in, lt, lte, missing, ne; not "prefix".']}),
    ({"keys": ["camera"], "scope": {"folder": "nope"}}, {"scope.folder": ["A folder uuid, or null for the whole "
                                                                         "organisation."]}),
])
def test_refusals_are_400s_naming_the_key(world, body, answer):
    schema_add(world["admin"], world["org"], caption="text", place="geospatial", clip=("embedding", 3))
    response = world["api"].post(URL, json=body)
    assert response.status_code == 400 and response.json() == answer


def test_a_key_name_that_is_not_one_is_refused(world):
    response = world["api"].post(URL, json={"keys": ["camera", ""]})
    assert response.status_code == 400 and list(response.json()) == ["keys[1]"]
    assert response.json()["keys[1]"][0].startswith("Not a metadata key name: ")


def test_every_facet_is_one_sql_statement(world):
    keys = facet_keys_from_json(EVERY_KEY)
    with CaptureQueriesContext(connection) as queries:
        answer = explore_facets(user=world["admin"], organisation=world["org"], keys=keys,
                                tree=parse_expression("score > 0.2"))
    facet_statements = [q["sql"] for q in queries if q["sql"].lstrip().startswith("WITH")]
    assert len(facet_statements) == 1 and len(answer.facets) == len(EVERY_KEY)
    assert "GROUPING SETS" in facet_statements[0] and "TABLESAMPLE" not in facet_statements[0]
    assert len(queries) <= 4  # + the schema, + the caller's folder grants, + the item table's size
    scored = [i for i in world["items"] if number(i.client_metadata.get("score")) and i.client_metadata["score"] > 0.2]
    assert (answer.approximate, answer.sample_percent, answer.count) == (False, None, len(scored))
    assert math.isclose(sum(answer.facets[2]["counts"]), len(scored))


# --------------------------------------------------------------------------- large results: a sample


@pytest.fixture
def large(world, monkeypatch):
    """The world plus 3,000 items (~50 pages), analysed, with thresholds that make it "large": more
    than 100 matching items are read from a 50% sample of the item table's pages."""
    import random

    from apps.explorer import facets as facets_module
    from apps.storage.models import Item
    from tests.explorer.fixtures import item_metadata

    rng = random.Random(3)
    folders = [world["a"], world["b"], world["sub"]]
    Item.objects.bulk_create([Item(organisation=world["org"], folder=folders[n % 3], name=f"more-{n:04d}.jpg",
                                   item_type=ItemType.IMAGE, status=ItemStatus.READY, width=640 + n % 7, height=480,
                                   client_metadata=item_metadata(n, rng)) for n in range(3000)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE storage_item")
    monkeypatch.setattr(facets_module, "EXACT_MAX_ROWS", 100)
    monkeypatch.setattr(facets_module, "SAMPLE_ROWS", 10**6)
    monkeypatch.setattr(facets_module, "SAMPLE_MAX_PERCENT", 50.0)
    return {**world, "items": list(Item.objects.filter(organisation=world["org"]))}


def sampled_items(org, percent: float):
    """The organisation's items on the pages ``TABLESAMPLE SYSTEM (percent) REPEATABLE (SAMPLE_SEED)`` reads."""
    from apps.explorer.facets import SAMPLE_SEED
    from apps.storage.models import Item

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT uuid FROM storage_item TABLESAMPLE SYSTEM ({percent}) REPEATABLE ({SAMPLE_SEED}) "
                       "WHERE organisation_id = %s", [org.pk])
        pks = [row[0] for row in cursor.fetchall()]
    return list(Item.objects.filter(pk__in=pks))


def halved(answer: dict) -> dict:
    """A 50% sample's facets with every count halved: what the sampled rows themselves hold."""
    def half(n):
        assert n % 2 == 0
        return n // 2
    shown = {}
    for name, facet in answer.items():
        counts = [half(c) for c in facet["counts"]] if "bins" in facet else [
            {**c, "count": half(c["count"])} for c in facet["counts"]]
        shown[name] = {**facet, "counts": counts, "missing": half(facet["missing"]),
                       **({"other": half(facet["other"])} if "other" in facet else {})}
    return shown


def test_a_large_result_is_read_from_a_sample_scaled_to_the_estimated_count(large):
    answer = large["api"].post(URL, json={"keys": EVERY_KEY}).json()
    sample = sampled_items(large["org"], 50.0)
    assert 0 < len(sample) < len(large["items"])
    assert (answer["approximate"], answer["sample_percent"], answer["count"]) == (True, 50.0, 2 * len(sample))
    by_key = {(f.get("key") or "$" + f["field"]): f for f in answer["facets"]}
    for facet in by_key.values():  # every facet adds up to the estimated count
        listed = facet["counts"] if "bins" in facet else [c["count"] for c in facet["counts"]]
        assert sum(listed) + facet.get("other", 0) + facet["missing"] == answer["count"]
    # At 50% every count is exactly twice the sampled rows' own: the facets ARE the sample's, scaled.
    check_all(halved(by_key), sample)
    score = by_key["score"]
    assert (score["bins"][0], score["bins"][-1]) == (score["min"], score["max"]) and len(score["bins"]) == 21


def test_a_filtered_large_result_is_sampled_and_a_small_one_stays_exact(large):
    q = 'camera in ("cam1","cam2")'
    answer = large["api"].post(URL, json={"q": q, "keys": EVERY_KEY}).json()
    matching = [i for i in sampled_items(large["org"], 50.0) if i.client_metadata.get("camera") in ("cam1", "cam2")]
    assert (answer["approximate"], answer["count"]) == (True, 2 * len(matching))
    check_all(halved({(f.get("key") or "$" + f["field"]): f for f in answer["facets"]}), matching)

    narrow = "score > 0.97"  # ~2% of 3,200 items: under the threshold, counted exactly
    exact = large["api"].post(URL, json={"q": narrow, "keys": EVERY_KEY}).json()
    scored = [i for i in large["items"] if number(i.client_metadata.get("score")) and i.client_metadata["score"] > 0.97]
    assert 0 < len(scored) <= 100
    assert (exact["approximate"], exact["sample_percent"], exact["count"]) == (False, None, len(scored))
    check_all({(f.get("key") or "$" + f["field"]): f for f in exact["facets"]}, scored)
