"""The compiler, per schema type x operator (accepted and refused), and the semantics the issue sets:
a comparison needs the key with a value of the compared kind (``ne`` too), ``not`` negates its whole
operand, datetimes compare as instants, undeclared keys are untyped. Real PostgreSQL, exact sets."""

from __future__ import annotations

import pytest

from apps.core.errors import ServiceValidationError
from apps.explorer.expression import parse_expression
from apps.explorer.filters import filter_from_json
from apps.explorer.selectors import explore_queryset
from apps.metadata.models import Embedding, MetadataKey
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from tests.encord_compat.helpers import schema_add

U1, U2 = "6f1c2a9e-0d3b-4e5f-8a7b-1c2d3e4f5a6b", "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
METADATA = {
    "i1": {"b": True, "n": 1, "d": "2026-11-01T10:00:00+00:00", "u": U1, "v": "Alpha_1", "t": "The quick Brown fox",
           "e": "x", "g": {"latitude": 52.5, "longitude": 13.4}, "w": 5},
    "i2": {"b": False, "n": 2.5, "d": "2026-11-01T12:30:00+02:00", "v": "beta%", "e": "y",
           "g": {"latitude": 48.8, "longitude": 2.3}, "w": "5"},
    "i3": {"n": "3", "d": "not a date", "v": 7, "e": "z", "w": True},
    "i4": {},
    "i5": {"b": None, "n": 10, "d": "2026-11-01", "u": U2, "v": "alpha", "t": "fox", "w": 12.5},
}
ALL = set(METADATA)


@pytest.fixture
def world(org, make_user):
    admin = make_user(org, role="admin")
    schema_add(admin, org, b="boolean", n="number", d="datetime", u="uuid", v="varchar", t="text",
               e=("enum", ["x", "y", "z"]), g="geospatial", emb=("embedding", 3))
    folder = folder_create(user=admin, name="f", organisation=org)
    items = Item.objects.bulk_create([
        Item(organisation=org, folder=folder, name=name, client_metadata=metadata,
             item_type=ItemType.VIDEO if name == "i2" else ItemType.IMAGE,
             status=ItemStatus.FAILED if name == "i3" else ItemStatus.READY,
             width=None if name in ("i4", "i5") else 100 * int(name[1]))
        for name, metadata in METADATA.items()
    ])
    Embedding.objects.create(key=MetadataKey.objects.get(organisation=org, name="emb"), item=items[0],
                             vector=[1.0, 0.0, 0.0])
    return {"user": admin, "org": org, "folder": folder}


def matching(world, tree) -> set[str]:
    return set(explore_queryset(user=world["user"], organisation=world["org"], tree=tree)
               .values_list("name", flat=True))


def leaf(name, op, value=None, target="key"):
    return filter_from_json({target: name, "op": op, **({"value": value} if op not in ("exists", "missing") else {})})


def _case_id(value) -> str:
    """A parameter's id, the same in every process (a set prints in hash order, which differs per process:
    pytest-xdist's workers must collect the same ids)."""
    return str(sorted(value) if isinstance(value, set) else value)[:30]


ACCEPTED = [
    # boolean
    ("b", "eq", True, {"i1"}), ("b", "ne", True, {"i2"}), ("b", "in", [True, False], {"i1", "i2"}),
    ("b", "exists", None, {"i1", "i2", "i5"}), ("b", "missing", None, {"i3", "i4"}),
    # number (i3's "3" is a string: not a number)
    ("n", "eq", 1, {"i1"}), ("n", "eq", 1.0, {"i1"}), ("n", "ne", 1, {"i2", "i5"}), ("n", "gt", 2, {"i2", "i5"}),
    ("n", "gte", 2.5, {"i2", "i5"}), ("n", "lt", 2.5, {"i1"}), ("n", "lte", 2.5, {"i1", "i2"}),
    ("n", "between", [1, 2.5], {"i1", "i2"}), ("n", "in", [1, 10], {"i1", "i5"}),
    # datetime: instants (i2 is 10:30Z written with +02:00; i5 a date is midnight UTC; i3 is not a date)
    ("d", "eq", "2026-11-01T10:30:00Z", {"i2"}), ("d", "eq", "2026-11-01T12:30:00+02:00", {"i2"}),
    ("d", "eq", "2026-11-01T10:00:00", {"i1"}), ("d", "ne", "2026-11-01T10:00:00Z", {"i2", "i5"}),
    ("d", "gt", "2026-11-01T10:15:00+00:00", {"i2"}), ("d", "lt", "2026-11-01T09:00:00Z", {"i5"}),
    ("d", "gte", "2026-11-01T11:00:00+01:00", {"i1", "i2"}), ("d", "lte", "2026-11-01T00:00:00Z", {"i5"}),
    ("d", "between", ["2026-11-01T00:00:00Z", "2026-11-01T10:00:00Z"], {"i1", "i5"}),
    ("d", "lte", "2026-11-01T23:00:00+23:00", {"i5"}),  # an offset Python takes and PostgreSQL would not
    # uuid: canonical comparison
    ("u", "eq", U1.upper(), {"i1"}), ("u", "ne", U1, {"i5"}), ("u", "in", [U1, U2], {"i1", "i5"}),
    ("u", "prefix", U2[:8].upper(), {"i5"}), ("u", "contains", "4E5F", {"i1", "i5"}),
    # varchar: prefix is case-sensitive, contains is not, LIKE wildcards are literal
    ("v", "eq", "alpha", {"i5"}), ("v", "ne", "alpha", {"i1", "i2"}), ("v", "prefix", "Alpha", {"i1"}),
    ("v", "prefix", "alpha", {"i5"}), ("v", "contains", "ALPHA", {"i1", "i5"}), ("v", "contains", "%", {"i2"}),
    ("v", "contains", "_", {"i1"}), ("v", "in", ["alpha", "beta%"], {"i2", "i5"}),
    # text
    ("t", "contains", "fox", {"i1", "i5"}), ("t", "contains", "brown", {"i1"}), ("t", "missing", None, {"i2", "i3", "i4"}),
    # enum
    ("e", "eq", "x", {"i1"}), ("e", "in", ["x", "z"], {"i1", "i3"}), ("e", "ne", "x", {"i2", "i3"}),
    # geospatial
    ("g", "within", [[13, 52], [14, 53]], {"i1"}), ("g", "within", [[-10, 40], [20, 60]], {"i1", "i2"}),
    # embedding: the item's own vector
    ("emb", "exists", None, {"i1"}), ("emb", "missing", None, ALL - {"i1"}),
    # undeclared: containment for equality, numbers only for ranges
    ("w", "eq", 5, {"i1"}), ("w", "eq", "5", {"i2"}), ("w", "eq", True, {"i3"}), ("w", "ne", 5, {"i5"}),
    ("w", "ne", "5", set()), ("w", "in", [5, "5"], {"i1", "i2"}), ("w", "gt", 4, {"i1", "i5"}),
    ("w", "between", [0, 10], {"i1"}), ("w", "contains", "5", {"i2"}), ("w", "prefix", "5", {"i2"}),
    ("w", "exists", None, ALL - {"i4"}), ("w", "missing", None, {"i4"}),
]


@pytest.mark.parametrize(("key", "op", "value", "expected"), ACCEPTED, ids=_case_id)
def test_each_accepted_type_and_operator(world, key, op, value, expected):
    assert matching(world, leaf(key, op, value)) == expected


FIELDS = [
    ("name", "eq", "i2", {"i2"}), ("name", "ne", "i2", ALL - {"i2"}), ("name", "in", ["i1", "i3"], {"i1", "i3"}),
    ("name", "prefix", "i", ALL), ("name", "contains", "I5", {"i5"}),
    ("type", "eq", "video", {"i2"}), ("type", "in", ["image"], ALL - {"i2"}), ("type", "ne", "video", ALL - {"i2"}),
    ("status", "eq", "failed", {"i3"}),
    ("width", "eq", 200, {"i2"}), ("width", "ne", 200, {"i1", "i3"}), ("width", "gt", 150, {"i2", "i3"}),
    ("width", "between", [100, 200], {"i1", "i2"}), ("width", "in", [100, 300], {"i1", "i3"}),
    ("width", "exists", None, {"i1", "i2", "i3"}), ("width", "missing", None, {"i4", "i5"}),
    ("created", "gt", "2000-01-01T00:00:00Z", ALL), ("created", "lt", "2000-01-01", set()),
]


@pytest.mark.parametrize(("field", "op", "value", "expected"), FIELDS, ids=_case_id)
def test_each_builtin_field_and_operator(world, field, op, value, expected):
    assert matching(world, leaf(field, op, value, target="field")) == expected


def test_the_folder_field(world):
    other = folder_create(user=world["user"], name="g", organisation=world["org"])
    Item.objects.filter(name="i4").update(folder=other)
    assert matching(world, leaf("folder", "eq", str(other.pk), target="field")) == {"i4"}
    assert matching(world, leaf("folder", "in", [str(other.pk)], target="field")) == {"i4"}
    assert matching(world, leaf("folder", "ne", str(other.pk), target="field")) == ALL - {"i4"}


REFUSED = [
    ("b", "lt", 1, 'key "b" is boolean: it takes eq, exists, in, missing, ne; not "lt".'),
    ("b", "eq", 1, 'key "b" compares true or false; got 1.'),
    ("n", "prefix", "1", 'key "n" is number: it takes between, eq, exists, gt, gte, in, lt, lte, missing, ne; not "prefix".'),
    ("n", "eq", "1", '"eq" on key "n" compares numbers; got "1".'),
    ("n", "between", [1, "x"], '"between" on key "n" compares numbers; got "x".'),
    ("d", "gt", "yesterday", 'key "d" compares datetimes (ISO 8601, e.g. "2026-12-01T10:00:00+02:00"); got "yesterday".'),
    ("d", "gt", "0001-01-01T00:00:00+05:00", 'key "d" compares datetimes (ISO 8601, e.g. "2026-12-01T10:00:00+02:00"); '
                                             'got "0001-01-01T00:00:00+05:00".'),
    ("d", "in", ["2026-01-01"], 'key "d" is datetime: it takes between, eq, exists, gt, gte, lt, lte, missing, ne; not "in".'),
    ("u", "eq", "nope", 'key "u" compares UUIDs; got "nope".'),
    ("u", "lt", U1, 'key "u" is uuid: it takes contains, eq, exists, in, missing, ne, prefix; not "lt".'),
    ("v", "gt", "a", 'key "v" is varchar: it takes contains, eq, exists, in, missing, ne, prefix; not "gt".'),
    ("v", "eq", 7, 'key "v" compares strings; got 7.'),
    ("t", "eq", "fox", 'key "t" is text: it takes contains, exists, missing; not "eq".'),
    ("e", "eq", "w", 'key "e" is one of "x", "y", "z"; got "w".'),
    ("e", "in", ["x", "w"], 'key "e" is one of "x", "y", "z"; got "w".'),
    ("e", "gt", "x", 'key "e" is enum: it takes eq, exists, in, missing, ne; not "gt".'),
    ("g", "eq", {"latitude": 1, "longitude": 2}, 'key "g" is geospatial: it takes exists, missing, within; not "eq".'),
    ("g", "within", [[14, 52], [13, 53]], '"within" takes [[lon_min, lat_min], [lon_max, lat_max]] with min <= max, '
                                          "longitudes in -180..180 and latitudes in -90..90."),
    ("emb", "eq", [1, 0, 0], 'key "emb" is embedding: it takes exists, missing; not "eq".'),
    ("w", "gt", "4", 'key "w" is undeclared: "gt" compares numbers only (declare the key as a datetime to compare dates).'),
    ("w", "within", [[0, 0], [1, 1]], 'key "w" is untyped: it takes between, contains, eq, exists, gt, gte, in, lt, '
                                      'lte, missing, ne, prefix; not "within" (declare the key to compare it by type).'),
    ("w", "eq", [1], 'key "w" is undeclared: it compares strings, numbers or booleans; got [1].'),
    ("w", "eq", None, 'key "w" is undeclared: it compares strings, numbers or booleans; got null.'),
]


@pytest.mark.parametrize(("key", "op", "value", "message"), REFUSED, ids=_case_id)
def test_each_refused_type_and_operator_names_the_leaf(world, key, op, value, message):
    tree = filter_from_json({"and": [{"key": "n", "op": "exists"}, {"key": key, "op": op, "value": value}]})
    with pytest.raises(ServiceValidationError) as error:
        matching(world, tree)
    assert error.value.message_dict == {"filter.and[1]": [message]}


REFUSED_FIELDS = [
    ({"field": "nope", "op": "eq", "value": 1}, "Unknown built-in field \"nope\": one of type, folder, name, status, "
                                                "created, file_size, width, height, duration, fps, duplicate."),
    ({"field": "name", "op": "exists"}, 'field "name" (varchar) takes eq, ne, in, prefix, contains; not "exists".'),
    ({"field": "type", "op": "eq", "value": "bogus"}, 'field "type" is one of "image", "video", "audio", "text", '
                                                      '"pdf", "nifti", "image_group", "image_sequence", "dicom_series", '
                                                      '"dicom_file"; got "bogus".'),
    ({"field": "width", "op": "prefix", "value": "1"}, 'field "width" (number) takes eq, ne, in, lt, lte, gt, gte, '
                                                       'between, exists, missing; not "prefix".'),
    ({"field": "width", "op": "eq", "value": 2**60}, "A number in a filter is at most 2**53 in size; got 1152921504606846976."),
    ({"key": "n", "op": "like", "value": 1}, 'Unknown operator "like": one of eq, ne, lt, lte, gt, gte, between, in, '
                                             "prefix, contains, exists, missing, within."),
    ({"key": "n", "op": "exists", "value": 1}, '"exists" takes no value.'),
    ({"key": "n", "op": "eq"}, '"eq" needs a "value".'),
    ({"key": "$x", "op": "eq", "value": 1}, 'Not a metadata key name: A key name cannot start with "$".'),
    ({"key": "n", "field": "name", "op": "eq"}, 'A leaf names exactly one of "key" (a metadata key) or "field" (a built-in field).'),
    ({"key": "n", "op": "in", "value": []}, '"in" takes a list of 1 to 1000 values.'),
]


@pytest.mark.parametrize(("node", "message"), REFUSED_FIELDS, ids=_case_id)
def test_refused_leaves_and_fields_name_the_path(world, node, message):
    with pytest.raises(ServiceValidationError) as error:
        matching(world, filter_from_json({"or": [{"key": "n", "op": "exists"}, {"not": node}]}))
    assert error.value.message_dict == {"filter.or[1].not": [message]}


def test_not_negates_its_whole_operand_so_items_without_the_key_match(world):
    assert matching(world, filter_from_json({"not": {"key": "n", "op": "eq", "value": 1}})) == ALL - {"i1"}
    assert matching(world, filter_from_json({"not": {"key": "n", "op": "gt", "value": 2}})) == {"i1", "i3", "i4"}
    assert matching(world, filter_from_json({"not": {"key": "d", "op": "gt", "value": "2026-11-01T10:15:00Z"}})) \
        == ALL - {"i2"}
    assert matching(world, filter_from_json({"not": {"field": "width", "op": "gt", "value": 150}})) \
        == {"i1", "i4", "i5"}
    assert matching(world, parse_expression("not b")) == ALL - {"i1"}
    assert matching(world, parse_expression("not not b")) == {"i1"}
    assert matching(world, parse_expression("not (w exists and v prefix 'a')")) == ALL - {"i5"}


def test_ne_needs_the_key_with_a_value_of_the_compared_kind(world):
    # i3's n is the string "3", i4 has no n: neither is "a number other than 1"
    assert matching(world, leaf("n", "ne", 1)) == {"i2", "i5"}
    assert matching(world, leaf("w", "ne", True)) == set()  # i3 holds true; nobody holds false
    assert matching(world, leaf("w", "ne", "x")) == {"i2"}


def test_groups_compose(world):
    assert matching(world, parse_expression("(e = 'x' or e = 'z') and not w = 5")) == {"i3"}
    assert matching(world, parse_expression("e in ('x', 'y') and n < 2 or $status = 'failed'")) == {"i1", "i3"}


def test_a_soft_deleted_key_is_untyped(world):
    from apps.metadata.services.schema import schema_key_soft_delete

    schema_key_soft_delete(user=world["user"], key=MetadataKey.objects.get(organisation=world["org"], name="e"))
    assert matching(world, leaf("e", "eq", "w")) == set()  # not refused: any value may be compared now
    assert matching(world, leaf("e", "eq", "x")) == {"i1"}
