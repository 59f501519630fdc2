"""Schema changes through the services: every rule, the re-type report over real items, the per-key
pgvector indexes (proved with EXPLAIN), and whole-schema saves from the SDK body."""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.utils import DataError

from apps.core.errors import ServiceValidationError
from apps.metadata.models import Embedding, KeyState, MetadataKey
from apps.metadata.selectors import embedding_key, schema_for, schema_key_get, schema_sdk_body
from apps.metadata.services.schema import (
    RetypeExample, RetypeReport, SchemaSaveReport, schema_enum_values_add, schema_key_add, schema_key_hard_delete,
    schema_key_restore, schema_key_retype, schema_key_soft_delete, schema_save,
)
from apps.metadata.validation import KeySpec, Schema
from apps.metadata.vector_indexes import embedding_index, embedding_index_name, embedding_index_sql
from apps.storage.models import Item, ItemType
from apps.storage.services.folders import folder_create
from tests.factories import OrganisationFactory


@pytest.fixture
def admin(org, make_user):
    return make_user(org, role="admin", email="admin@example.com")


@pytest.fixture
def member(org, make_user):
    return make_user(org, role="member", email="member@example.com")


@pytest.fixture
def folder(admin, org):
    return folder_create(user=admin, name="data", organisation=org)


def _item(folder, name, metadata) -> Item:
    return Item.objects.create(organisation=folder.organisation, folder=folder, item_type=ItemType.IMAGE, name=name,
                               url=f"https://cdn.example.com/{name}", client_metadata=metadata)


def _add(admin, org, name, type_name, **params) -> MetadataKey:
    return schema_key_add(user=admin, organisation=org, name=name, type=type_name, **params)


def _errors(caught) -> dict:
    return caught.value.message_dict


def _index_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname = %s", [name])
        return cursor.fetchone()[0] == 1


# --------------------------------------------------------------------------- adding keys


def test_add_one_key_of_each_type(admin, org):
    _add(admin, org, "ok", "boolean")
    _add(admin, org, "score", "number")
    _add(admin, org, "when", "datetime")
    _add(admin, org, "id", "uuid")
    _add(admin, org, "caption", "string", max_length=100)
    _add(admin, org, "notes", "long_string")
    _add(admin, org, "weather", "enum", enum_values=["sun", "rain", "sun"])
    clip = _add(admin, org, "clip", "embedding", size=512)
    _add(admin, org, "where", "geospatial")

    assert schema_for(organisation_id=org.pk) == Schema(keys={
        "caption": KeySpec("caption", "varchar", max_length=100), "clip": KeySpec("clip", "embedding", size=512),
        "id": KeySpec("id", "uuid"), "notes": KeySpec("notes", "text"), "ok": KeySpec("ok", "boolean"),
        "score": KeySpec("score", "number"), "weather": KeySpec("weather", "enum", enum_values=("rain", "sun")),
        "when": KeySpec("when", "datetime"), "where": KeySpec("where", "geospatial"),
    })
    assert MetadataKey.objects.get(name="weather").enum_values == ["rain", "sun"]
    assert embedding_key(organisation_id=org.pk, name="clip") == clip
    assert _index_exists(f"metadata_embedding_key_{clip.pk}_hnsw")


@pytest.mark.parametrize("name, message", [
    ("", "A key name cannot be empty."),
    ("$encord", 'A key name cannot start with "$".'),
    ("key_frames", '"key_frames" is reserved for key frames.'),
    ("a/b", 'A key name may hold only letters, digits, "-", "_", "." and spaces.'),
    ("x" * 256, "A key name has at most 255 characters."),
])
def test_add_refuses_invalid_names(admin, org, name, message):
    with pytest.raises(ServiceValidationError) as caught:
        _add(admin, org, name, "number")
    assert _errors(caught) == {"name": [message]}


@pytest.mark.parametrize("type_name, params, errors", [
    ("float", {}, {"type": ['Unknown type "float": choose one of boolean, number, datetime, uuid, varchar, text, '
                            "enum, embedding, geospatial."]}),
    ("enum", {}, {"enum_values": ["An enum has 1 to 255 values; 0 given."]}),
    ("enum", {"enum_values": [f"v{i}" for i in range(256)]}, {"enum_values": ["An enum has 1 to 255 values; 256 given."]}),
    ("enum", {"enum_values": ["a", ""]}, {"enum_values": ["Enum values are non-empty strings."]}),
    ("enum", {"enum_values": ["a", 1]}, {"enum_values": ["Enum values are non-empty strings."]}),
    ("embedding", {}, {"size": ["An embedding's size is an integer from 1 to 4096."]}),
    ("embedding", {"size": 0}, {"size": ["An embedding's size is an integer from 1 to 4096."]}),
    ("embedding", {"size": 4097}, {"size": ["An embedding's size is an integer from 1 to 4096."]}),
    ("number", {"size": 3}, {"size": ["Only embedding keys have a size."]}),
    ("number", {"enum_values": ["a"]}, {"enum_values": ["Only enum keys have values."]}),
    ("varchar", {"max_length": 8193}, {"max_length": ["A varchar's maximum length is an integer from 1 to 8192."]}),
    ("varchar", {"max_length": 0}, {"max_length": ["A varchar's maximum length is an integer from 1 to 8192."]}),
    ("text", {"max_length": 10}, {"max_length": ["Only varchar keys have a maximum length."]}),
])
def test_add_refuses_bad_definitions(admin, org, type_name, params, errors):
    with pytest.raises(ServiceValidationError) as caught:
        _add(admin, org, "k", type_name, **params)
    assert _errors(caught) == errors
    assert MetadataKey.objects.count() == 0


def test_a_name_is_taken_in_every_state(admin, org):
    _add(admin, org, "score", "number")
    schema_key_soft_delete(user=admin, key=_add(admin, org, "old", "number"))
    schema_key_hard_delete(user=admin, key=_add(admin, org, "gone", "number"))
    for name, message in [
        ("score", 'Key "score" already exists.'),
        ("old", 'Key "old" exists and is deleted; restore it instead.'),
        ("gone", 'Key "gone" was hard deleted; its name stays taken.'),
    ]:
        with pytest.raises(ServiceValidationError) as caught:
            _add(admin, org, name, "text")
        assert _errors(caught) == {"name": [message]}
    # Names are per organisation, and case-sensitive like JSON keys.
    other = OrganisationFactory(name="Other")
    from apps.core.services import organisation_member_set

    organisation_member_set(organisation=other, user=admin, role="admin")
    assert _add(admin, other, "score", "text").organisation == other
    assert _add(admin, org, "Score", "text").name == "Score"


def test_only_organisation_admins_change_the_schema(admin, member, org, make_user):
    key = _add(admin, org, "weather", "enum", enum_values=["sun"])
    outsider = make_user(OrganisationFactory(name="Elsewhere"), role="admin")
    for user in (member, outsider):
        calls = [
            lambda: _add(user, org, "x", "number"),
            lambda: schema_enum_values_add(user=user, key=key, values=["rain"]),
            lambda: schema_key_retype(user=user, key=key, new_type="text"),
            lambda: schema_key_soft_delete(user=user, key=key),
            lambda: schema_key_restore(user=user, key=key),
            lambda: schema_key_hard_delete(user=user, key=key),
            lambda: schema_save(user=user, organisation=org, body={}),
        ]
        for call in calls:
            with pytest.raises(PermissionDenied) as caught:
                call()
            assert str(caught.value) == "Only organisation admins can change the metadata schema."
    assert MetadataKey.objects.get().state == KeyState.ACTIVE
    assert MetadataKey.objects.get().enum_values == ["sun"]


# --------------------------------------------------------------------------- enum values


def test_enum_values_are_added_sorted_and_existing_ones_ignored(admin, org):
    key = _add(admin, org, "weather", "enum", enum_values=["sun"])
    key = schema_enum_values_add(user=admin, key=key, values=["rain", "sun", "fog"])
    assert key.enum_values == ["fog", "rain", "sun"]
    assert MetadataKey.objects.get(pk=key.pk).enum_values == ["fog", "rain", "sun"]


def test_enum_values_add_rules(admin, org):
    number = _add(admin, org, "score", "number")
    enum = _add(admin, org, "weather", "enum", enum_values=[f"v{i:03}" for i in range(254)])
    cases = [
        (number, ["a"], 'Key "score" is number, not an enum.'),
        (enum, [], "Give at least one value to add."),
        (enum, [""], "Enum values are non-empty strings."),
        (enum, ["x", "y"], 'Key "weather" would have 256 values; an enum has at most 255.'),
    ]
    for key, values, message in cases:
        with pytest.raises(ServiceValidationError) as caught:
            schema_enum_values_add(user=admin, key=key, values=values)
        assert _errors(caught) == {"enum_values": [message]}
    assert len(schema_enum_values_add(user=admin, key=enum, values=["x"]).enum_values) == 255
    schema_key_soft_delete(user=admin, key=enum)
    with pytest.raises(ServiceValidationError) as caught:
        schema_enum_values_add(user=admin, key=enum, values=["z"])
    assert _errors(caught) == {"enum_values": ['Key "weather" is deleted; restore it first.']}


# --------------------------------------------------------------------------- re-typing


def test_retype_scalar_reports_values_that_no_longer_validate(admin, org, folder):
    key = _add(admin, org, "score", "number")
    a = _item(folder, "a.jpg", {"score": 5})
    b = _item(folder, "b.jpg", {"score": "high", "site": "Algiers"})
    c = _item(folder, "c.jpg", {"$encord": {"frames": {"12": {"score": 7}, "13": {"other": 1}}}})
    _item(folder, "d.jpg", {"site": "Oran"})
    _item(folder, "e.jpg", {"score": "12"})
    # Another organisation's items are not this schema's business.
    other = OrganisationFactory(name="Other")
    Item.objects.create(organisation=other, folder=folder, item_type=ItemType.IMAGE, name="x.jpg",
                        client_metadata={"score": 1})

    report = schema_key_retype(user=admin, key=key, new_type="string")

    assert (report.key, report.old_type, report.new_type, report.checked, report.invalid) == (
        "score", "number", "varchar", 4, 2)
    assert sorted(report.examples, key=lambda example: str(example.item)) == sorted(
        [RetypeExample(item=a.pk, value=5), RetypeExample(item=c.pk, value=7, frame="12")],
        key=lambda example: str(example.item),
    )
    assert schema_for(organisation_id=org.pk).spec("score") == KeySpec("score", "varchar")
    # Values are reported, never dropped.
    assert Item.objects.get(pk=a.pk).client_metadata == {"score": 5}
    assert Item.objects.get(pk=b.pk).client_metadata == {"score": "high", "site": "Algiers"}


def test_retype_report_lists_at_most_100_examples(admin, org, folder):
    key = _add(admin, org, "flag", "text")
    Item.objects.bulk_create([
        Item(organisation=org, folder=folder, item_type=ItemType.IMAGE, name=f"{i}.jpg", client_metadata={"flag": "yes"})
        for i in range(130)
    ])
    report = schema_key_retype(user=admin, key=key, new_type="boolean")
    assert (report.checked, report.invalid, len(report.examples)) == (130, 130, 100)
    assert {example.value for example in report.examples} == {"yes"}


def test_retype_varchar_length(admin, org, folder):
    key = _add(admin, org, "code", "varchar")
    _item(folder, "a.jpg", {"code": "abcdef"})
    _item(folder, "b.jpg", {"code": "abc"})
    report = schema_key_retype(user=admin, key=key, new_type="varchar", max_length=4)
    assert (report.new_type, report.checked, report.invalid, [e.value for e in report.examples]) == (
        "varchar", 2, 1, ["abcdef"])
    assert MetadataKey.objects.get(pk=key.pk).max_length == 4


@pytest.mark.parametrize("type_name, params, new_type, message", [
    ("enum", {"enum_values": ["a"]}, "varchar",
     'Key "k" is an enum key: enum and embedding keys cannot be re-typed.'),
    ("embedding", {"size": 3}, "text", 'Key "k" is an embedding key: enum and embedding keys cannot be re-typed.'),
    ("geospatial", {}, "text",
     'Key "k" is a geospatial key: only scalar keys (boolean, number, datetime, uuid, varchar, text) can be re-typed.'),
    ("number", {}, "enum", 'Key "k" cannot become enum: a scalar key can only change to another scalar type '
                           "(boolean, number, datetime, uuid, varchar, text)."),
    ("number", {}, "embedding", 'Key "k" cannot become embedding: a scalar key can only change to another scalar '
                                "type (boolean, number, datetime, uuid, varchar, text)."),
    ("number", {}, "number", 'Key "k" is already number.'),
    ("number", {}, "decimal", 'Unknown type "decimal": choose one of boolean, number, datetime, uuid, varchar, text, '
                              "enum, embedding, geospatial."),
])
def test_retype_rules(admin, org, type_name, params, new_type, message):
    key = _add(admin, org, "k", type_name, **params)
    with pytest.raises(ServiceValidationError) as caught:
        schema_key_retype(user=admin, key=key, new_type=new_type)
    assert _errors(caught) == {"type": [message]}
    assert MetadataKey.objects.get(pk=key.pk).type == type_name


def test_retype_a_deleted_key_is_refused(admin, org):
    key = schema_key_soft_delete(user=admin, key=_add(admin, org, "k", "number"))
    with pytest.raises(ServiceValidationError) as caught:
        schema_key_retype(user=admin, key=key, new_type="text")
    assert _errors(caught) == {"type": ['Key "k" is deleted; restore it first.']}


# --------------------------------------------------------------------------- deleting


def test_soft_delete_hides_the_key_and_restore_brings_it_back(admin, org, folder):
    clip = _add(admin, org, "clip", "embedding", size=3)
    Embedding.objects.create(key=clip, item=_item(folder, "a.jpg", {}), vector=[1, 2, 3])

    clip = schema_key_soft_delete(user=admin, key=clip)
    row = MetadataKey.objects.get(pk=clip.pk)
    assert (row.state, row.type, row.deleted_type, row.size) == (KeyState.DELETED, "", "embedding", 3)
    assert schema_for(organisation_id=org.pk) == Schema(keys={})
    assert embedding_key(organisation_id=org.pk, name="clip") is None
    assert Embedding.objects.filter(key=clip).count() == 1 and _index_exists(embedding_index_name(clip))
    with pytest.raises(ServiceValidationError) as caught:
        schema_key_soft_delete(user=admin, key=clip)
    assert _errors(caught) == {"state": ['Key "clip" is already deleted.']}

    schema_key_restore(user=admin, key=clip)
    assert schema_for(organisation_id=org.pk).spec("clip") == KeySpec("clip", "embedding", size=3)
    with pytest.raises(ServiceValidationError) as caught:
        schema_key_restore(user=admin, key=clip)
    assert _errors(caught) == {"state": ['Key "clip" is not deleted.']}


def test_hard_delete_keeps_the_name_taken_and_drops_vectors_and_index(admin, org, folder):
    clip = _add(admin, org, "clip", "embedding", size=3)
    other = _add(admin, org, "other", "embedding", size=3)
    item = _item(folder, "a.jpg", {"clip": [1, 2, 3]})
    Embedding.objects.create(key=clip, item=item, vector=[1, 2, 3])
    Embedding.objects.create(key=other, item=item, vector=[3, 2, 1])
    index_name = embedding_index_name(clip)

    schema_key_hard_delete(user=admin, key=schema_key_soft_delete(user=admin, key=clip))

    row = MetadataKey.objects.get(pk=clip.pk)
    assert (row.state, row.type, row.deleted_type, row.size, row.enum_values) == (KeyState.TOMBSTONE, "", "", None, [])
    assert not _index_exists(index_name) and _index_exists(embedding_index_name(other))
    assert list(Embedding.objects.values_list("key__name", flat=True)) == ["other"]
    assert Item.objects.get(pk=item.pk).client_metadata == {"clip": [1, 2, 3]}  # the value stays, untyped
    for call, message in [
        (lambda: schema_key_restore(user=admin, key=row), 'Key "clip" was hard deleted and cannot be restored.'),
        (lambda: schema_key_hard_delete(user=admin, key=row), 'Key "clip" is already hard deleted.'),
    ]:
        with pytest.raises(ServiceValidationError) as caught:
            call()
        assert _errors(caught) == {"state": [message]}


# --------------------------------------------------------------------------- the per-key vector indexes

INDEX_SIZES = {3: ("vector", "<=>"), 512: ("vector", "<=>"), 2001: ("halfvec", "<=>"), 4096: ("bit", "<~>")}


@pytest.fixture
def embedding_keys(admin, org, folder):
    """One key per index kind, all sharing the untyped column, with 12 vectors each (frames 0–11 of one item)."""
    rng = random.Random(7)
    item = _item(folder, "clip.mp4", {})
    keys = {}
    for size in INDEX_SIZES:
        key = keys[size] = _add(admin, org, f"clip{size}", "embedding", size=size)
        Embedding.objects.bulk_create([
            Embedding(key=key, item=item, frame=frame, vector=[rng.uniform(-1, 1) for _ in range(size)])
            for frame in range(12)
        ])
    return keys


@pytest.mark.parametrize("size", list(INDEX_SIZES))
def test_each_embedding_key_has_its_own_ann_index_that_the_query_uses(embedding_keys, size):
    key = embedding_keys[size]
    index = embedding_index(key)
    assert (index.kind, index.operator) == INDEX_SIZES[size]
    target = Embedding.objects.get(key=key, frame=5)
    query = [float(x) for x in target.vector]
    sql = (f"SELECT frame FROM metadata_embedding WHERE {index.predicate} "
           f"ORDER BY {index.column} {index.operator} {index.query} LIMIT 5")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, [str(query)])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, [str(query)])
        frames = [row[0] for row in cursor.fetchall()]
    assert f"Index Scan using metadata_embedding_key_{key.pk}_hnsw on metadata_embedding" in plan
    assert frames[0] == 5  # the vector itself is its own nearest neighbour


def test_index_sql_matches_the_caps(embedding_keys):
    pk = {size: key.pk for size, key in embedding_keys.items()}
    assert embedding_index_sql(embedding_keys[3]) == (
        f"CREATE INDEX metadata_embedding_key_{pk[3]}_hnsw ON metadata_embedding USING hnsw "
        f"((vector::vector(3)) vector_cosine_ops) WITH (m = 16, ef_construction = 64) WHERE key_id = {pk[3]}")
    assert embedding_index_sql(embedding_keys[2001]) == (
        f"CREATE INDEX metadata_embedding_key_{pk[2001]}_hnsw ON metadata_embedding USING hnsw "
        f"((vector::halfvec(2001)) halfvec_cosine_ops) WITH (m = 24, ef_construction = 100) WHERE key_id = {pk[2001]}")
    assert embedding_index_sql(embedding_keys[4096]) == (
        f"CREATE INDEX metadata_embedding_key_{pk[4096]}_hnsw ON metadata_embedding USING hnsw "
        f"((binary_quantize(vector)::bit(4096)) bit_hamming_ops) WITH (m = 24, ef_construction = 128) "
        f"WHERE key_id = {pk[4096]}")


def test_the_index_refuses_a_vector_of_the_wrong_size(embedding_keys, folder):
    item = _item(folder, "b.jpg", {})
    with pytest.raises(DataError, match="expected 3 dimensions, not 4"), transaction.atomic():
        Embedding.objects.create(key=embedding_keys[3], item=item, vector=[1, 2, 3, 4])


# --------------------------------------------------------------------------- whole-schema saves (SDK body)

SDK_BODY = {
    "caption": {"ty": "variant", "hint": "varchar"},
    "clip": {"ty": "embedding", "size": 512, "api": None},
    "code": {"ty": "varchar", "max_length": 16},
    "gone": {"ty": "tombstone", "deleted_ty": None},
    "old": {"ty": "tombstone", "deleted_ty": {"ty": "enum", "values": ["a"]}},
    "score": {"ty": "variant", "hint": "number"},
    "weather": {"ty": "enum", "values": ["rain", "sun"]},
    "where": {"ty": "geospatial"},
}


def test_schema_save_round_trip(admin, org):
    report = schema_save(user=admin, organisation=org, body=SDK_BODY)
    assert report == SchemaSaveReport(added=["caption", "clip", "code", "score", "weather", "where"])
    assert schema_sdk_body(organisation=org) == SDK_BODY
    assert dict(MetadataKey.objects.values_list("name", "state")) == {
        "caption": "active", "clip": "active", "code": "active", "gone": "tombstone", "old": "deleted",
        "score": "active", "weather": "active", "where": "active",
    }
    assert _index_exists(embedding_index_name(schema_key_get(organisation=org, name="clip")))
    # Saving the same body again changes nothing.
    assert schema_save(user=admin, organisation=org, body=SDK_BODY) == SchemaSaveReport()


def test_schema_save_applies_every_kind_of_change(admin, org, folder):
    schema_save(user=admin, organisation=org, body=SDK_BODY)
    _item(folder, "a.jpg", {"score": 3})
    body = {
        **SDK_BODY,
        "score": {"ty": "variant", "hint": "text"},  # re-type
        "weather": {"ty": "enum", "values": ["fog", "rain", "sun"]},  # add a value
        "old": {"ty": "enum", "values": ["a", "b"]},  # restore, with a new value
        "where": {"ty": "tombstone", "deleted_ty": None},  # hard delete
        "clip": {"ty": "tombstone", "deleted_ty": {"ty": "embedding", "size": 512}},  # soft delete
        "fresh": "boolean",  # the legacy flat form
    }
    del body["caption"]  # absent: soft-deleted

    report = schema_save(user=admin, organisation=org, body=body)

    assert report == SchemaSaveReport(
        added=["fresh"],
        retyped=[RetypeReport(key="score", old_type="number", new_type="text", checked=1, invalid=1,
                              examples=(RetypeExample(item=Item.objects.get().pk, value=3),))],
        enum_values_added={"weather": ["fog"], "old": ["b"]},
        soft_deleted=["clip", "caption"], restored=["old"], hard_deleted=["where"],
    )
    assert schema_sdk_body(organisation=org) == {
        "caption": {"ty": "tombstone", "deleted_ty": {"ty": "variant", "hint": "varchar"}},
        "clip": {"ty": "tombstone", "deleted_ty": {"ty": "embedding", "size": 512, "api": None}},
        "code": {"ty": "varchar", "max_length": 16},
        "fresh": {"ty": "variant", "hint": "boolean"},
        "gone": {"ty": "tombstone", "deleted_ty": None},
        "old": {"ty": "enum", "values": ["a", "b"]},
        "score": {"ty": "variant", "hint": "text"},
        "weather": {"ty": "enum", "values": ["fog", "rain", "sun"]},
        "where": {"ty": "tombstone", "deleted_ty": None},
    }


def test_schema_save_restores_a_soft_deleted_scalar_with_a_new_hint(admin, org):
    # What the SDK's set_scalar() sends for a key it holds as a tombstone with a variant deleted_ty.
    schema_save(user=admin, organisation=org, body={"score": {"ty": "tombstone", "deleted_ty": {"ty": "variant", "hint": "number"}}})
    report = schema_save(user=admin, organisation=org, body={"score": {"ty": "variant", "hint": "varchar"}})
    assert (report.restored, [r.new_type for r in report.retyped]) == (["score"], ["varchar"])
    assert schema_for(organisation_id=org.pk).spec("score") == KeySpec("score", "varchar")


def test_schema_save_refuses_rule_breaks_and_writes_nothing(admin, org):
    schema_save(user=admin, organisation=org, body=SDK_BODY)
    before = list(MetadataKey.objects.order_by("name").values())
    body = {
        **SDK_BODY,
        "clip": {"ty": "embedding", "size": 768, "api": None},
        "weather": {"ty": "enum", "values": ["sun"]},
        "gone": {"ty": "variant", "hint": "number"},
        "where": {"ty": "variant", "hint": "number"},
        "score": {"ty": "enum", "values": ["a"]},
        "$bad": {"ty": "variant", "hint": "number"},
        "new": {"ty": "variant", "hint": "number"},
    }
    with pytest.raises(ServiceValidationError) as caught:
        schema_save(user=admin, organisation=org, body=body)
    assert _errors(caught) == {
        "clip": ["Key \"clip\": an embedding's size cannot change (512 → 768)."],
        "weather": ['Key "weather": enum values cannot be removed (missing: "rain").'],
        "gone": ['Key "gone" was hard deleted; its name stays taken and it cannot be restored.'],
        "where": ['Key "where" is a geospatial key: only scalar keys (boolean, number, datetime, uuid, varchar, text) '
                  "can be re-typed."],
        "score": ['Key "score" cannot become enum: a scalar key can only change to another scalar type (boolean, '
                  "number, datetime, uuid, varchar, text)."],
        "$bad": ['Key "$bad": a key name cannot start with "$".'],
    }
    assert list(MetadataKey.objects.order_by("name").values()) == before


def test_schema_save_refuses_malformed_bodies(admin, org):
    for body, errors in [
        ({"a": {"ty": "embedding", "size": 0}}, {"a": ['key "a": an embedding\'s size is an integer from 1 to 4096']}),
        ([1, 2], {"schema": ["The schema must be a JSON object mapping key names to types."]}),
    ]:
        with pytest.raises(ServiceValidationError) as caught:
            schema_save(user=admin, organisation=org, body=body)
        assert _errors(caught) == errors
    assert MetadataKey.objects.count() == 0


# --------------------------------------------------------------------------- the admin and plain (no-JS) forms


@pytest.fixture
def superuser_client(client, db):
    from apps.core.models import User

    user = User.objects.create_superuser(email="root@example.com", password="pw-for-tests-1")
    client.force_login(user)
    return client, user


def test_admin_adds_changes_and_deletes_keys_through_the_services(superuser_client, org):
    client, _ = superuser_client
    response = client.post("/admin/metadata/metadatakey/add/", {
        "organisation": org.pk, "name": "clip", "type": "embedding", "enum_values_text": "", "size": 3,
        "max_length": 8192,
    })
    assert response.status_code == 302, response.content
    clip = MetadataKey.objects.get(name="clip")
    assert _index_exists(embedding_index_name(clip))
    client.post("/admin/metadata/metadatakey/add/", {
        "organisation": org.pk, "name": "weather", "type": "enum", "enum_values_text": "sun, rain", "max_length": 8192,
    })
    weather = MetadataKey.objects.get(name="weather")
    assert weather.enum_values == ["rain", "sun"]
    response = client.post("/admin/metadata/metadatakey/add/", {
        "organisation": org.pk, "name": "$x", "type": "number", "max_length": 8192,
    })
    assert response.context["adminform"].form.errors == {"name": ['A key name cannot start with "$".']}
    for path in ["/admin/metadata/metadatakey/", "/admin/metadata/metadatakey/add/",
                 f"/admin/metadata/metadatakey/{weather.pk}/change/"]:
        assert client.get(path).status_code == 200
    client.post(f"/admin/metadata/metadatakey/{weather.pk}/change/", {
        "type": "enum", "max_length": 8192, "enum_values_text": "fog",
    })
    assert MetadataKey.objects.get(pk=weather.pk).enum_values == ["fog", "rain", "sun"]

    client.post("/admin/metadata/metadatakey/", {"action": "soft_delete", "_selected_action": [clip.pk, weather.pk]})
    assert set(MetadataKey.objects.values_list("state", flat=True)) == {KeyState.DELETED}
    client.post("/admin/metadata/metadatakey/", {"action": "restore", "_selected_action": [weather.pk]})
    client.post("/admin/metadata/metadatakey/", {"action": "hard_delete", "_selected_action": [clip.pk]})
    assert dict(MetadataKey.objects.values_list("name", "state")) == {"clip": "tombstone", "weather": "active"}
    assert not _index_exists(embedding_index_name(clip))
    assert client.get(f"/admin/metadata/metadatakey/{clip.pk}/delete/").status_code == 403


def test_plain_form_posts_work_without_htmx(client, admin, member, org):
    client.force_login(admin)
    response = client.post("/metadata/schema/keys/new", {"organisation": org.pk, "name": "score", "type": "number",
                                                          "size": "7", "enum_values": "ignored"})
    assert (response.status_code, response.url) == (302, f"/metadata/schema/?organisation={org.pk}")
    key = MetadataKey.objects.get()
    assert (key.type, key.size, key.enum_values) == ("number", None, [])  # other types' fields are ignored
    response = client.post(f"/metadata/schema/keys/{key.pk}/retype", {"type": "text"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        'Key "score" added.', 'Key "score" is now text: 0 of 0 stored values no longer validate (they are kept).']
    response = client.post("/metadata/schema/keys/new", {"organisation": org.pk, "name": "score", "type": "text"})
    assert response.status_code == 400
    assert response.context["form"].errors == {"name": ['Key "score" already exists.']}

    client.force_login(member)
    assert client.get("/metadata/schema/").status_code == 200
    assert client.post(f"/metadata/schema/keys/{key.pk}/delete").status_code == 403
    assert MetadataKey.objects.get().state == KeyState.ACTIVE
