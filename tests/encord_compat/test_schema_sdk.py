"""The metadata schema through the SDK: ``metadata_schema()`` and its edits, and the legacy calls."""

from __future__ import annotations

from apps.metadata.models import KeyState, MetadataKey
from apps.metadata.vector_indexes import embedding_index_name


def _keys(org) -> dict:
    return {key.name: (key.state, key.type or key.deleted_type, key.size, sorted(key.enum_values or []))
            for key in MetadataKey.objects.filter(organisation=org)}


def test_schema_edits_through_metadata_schema(run_sdk, sdk_version, alice, org):
    steps = [
        [["add_scalar", ["score", "number"]], ["add_scalar", ["caption", "long_string"]],
         ["add_scalar", ["camera", "string"]], ["add_enum", ["weather", ["sunny", "rain"]]],
         ["add_embedding", ["clip", 8]], ["add_scalar", ["old", "boolean"]]],
        [["add_enum_options", ["weather", ["fog"]]], ["delete_key", ["caption"]], ["delete_key_hard", ["old"]]],
        [["restore_key", ["caption"]]],
    ]

    out = run_sdk(sdk_version, "metadata_schema.py", steps=steps)

    first, second, third = out["snapshots"]
    assert first == {
        "camera": {"deleted": False, "type": "varchar"}, "caption": {"deleted": False, "type": "text"},
        "clip": {"deleted": False, "type": "embedding", "size": 8}, "old": {"deleted": False, "type": "boolean"},
        "score": {"deleted": False, "type": "number"},
        "weather": {"deleted": False, "type": "enum", "values": ["rain", "sunny"]},
    }
    assert second["weather"] == {"deleted": False, "type": "enum", "values": ["fog", "rain", "sunny"]}
    assert second["caption"] == {"deleted": True}
    assert second["old"] == {"deleted": True}
    assert third["caption"] == {"deleted": False, "type": "text"}
    keys = _keys(org)
    assert keys["old"][0] == KeyState.TOMBSTONE
    assert keys["caption"][0] == KeyState.ACTIVE
    assert keys["weather"] == (KeyState.ACTIVE, "enum", None, ["fog", "rain", "sunny"])
    assert keys["clip"][:3] == (KeyState.ACTIVE, "embedding", 8)
    clip = MetadataKey.objects.get(organisation=org, name="clip")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [embedding_index_name(clip)])
        assert cursor.fetchone() == (1,)  # the embedding key got its ANN index
    assert out["legacy"] == {"camera": "string", "caption": "string", "clip": "embedding", "score": "number",
                             "weather": "enum"}


def test_legacy_schema_set_replaces_the_schema(run_sdk, sdk_version, alice, org):
    steps = [[["add_scalar", ["score", "number"]], ["add_scalar", ["note", "text"]]]]

    out = run_sdk(sdk_version, "metadata_schema.py", steps=steps,
                  legacy_set={"score": "number", "reviewed": "boolean", "site": "string"})

    assert out["legacy_after"] == {"reviewed": "boolean", "score": "number", "site": "string"}
    keys = _keys(org)
    assert keys["note"][0] == KeyState.DELETED  # absent from the new schema: soft-deleted, restorable
    assert keys["site"][:2] == (KeyState.ACTIVE, "varchar")
