"""The metadata rules in pure Python: key names, every type's values, ``$encord`` frames, the SDK body."""

from __future__ import annotations

import copy

import pytest

from apps.metadata.validation import (
    KeySpec, MetadataError, Schema, SchemaBodyError, Tombstone, embedding_values, key_name_error, schema_from_sdk,
    schema_to_legacy, schema_to_sdk, validate_metadata, validate_value,
)

# --------------------------------------------------------------------------- key names


@pytest.mark.parametrize("name", [
    "score", "video.description", "Team.Key", "camera id", "front-left_2", "a", "x" * 255, "größe", "Keyframes",
    "keyframe", "keyframes2",
])
def test_valid_key_names(name):
    assert key_name_error(name) is None


@pytest.mark.parametrize("name, message", [
    ("", "A key name cannot be empty."),
    ("x" * 256, "A key name has at most 255 characters."),
    ("$encord", 'A key name cannot start with "$".'),
    ("$score", 'A key name cannot start with "$".'),
    ("- _.", "A key name needs at least one letter or digit."),
    ("a/b", 'A key name may hold only letters, digits, "-", "_", "." and spaces.'),
    ("score!", 'A key name may hold only letters, digits, "-", "_", "." and spaces.'),
    ("a$b", 'A key name may hold only letters, digits, "-", "_", "." and spaces.'),
    ("keyframes", '"keyframes" is reserved for key frames.'),
    ("key_frames", '"key_frames" is reserved for key frames.'),
    ("key-frames", '"key-frames" is reserved for key frames.'),
    ("key.frames", '"key.frames" is reserved for key frames.'),
    ("key frames", '"key frames" is reserved for key frames.'),
])
def test_invalid_key_names(name, message):
    assert key_name_error(name) == message


# --------------------------------------------------------------------------- values of every type


def _spec(type_name, **params):
    return KeySpec(name="k", type=type_name, **params)


@pytest.mark.parametrize("spec, value, normalised", [
    (_spec("boolean"), True, True),
    (_spec("boolean"), False, False),
    (_spec("number"), 3, 3),
    (_spec("number"), -2.5, -2.5),
    (_spec("number"), 0, 0),
    (_spec("datetime"), "2024-05-01T10:00:00", "2024-05-01T10:00:00+00:00"),
    (_spec("datetime"), "2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00+00:00"),
    (_spec("datetime"), "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00"),
    (_spec("datetime"), "2024-05-01T10:00:00.250-01:30", "2024-05-01T11:30:00.250000+00:00"),
    (_spec("datetime"), "2024-05-01", "2024-05-01T00:00:00+00:00"),
    (_spec("uuid"), "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    (_spec("uuid"), "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    (_spec("varchar"), "x" * 8192, "x" * 8192),
    (_spec("varchar", max_length=3), "abc", "abc"),
    (_spec("varchar"), "", ""),
    (_spec("text"), "y" * 20000, "y" * 20000),
    (_spec("enum", enum_values=("rain", "sun")), "sun", "sun"),
    (_spec("embedding", size=3), [1, 0.5, -2], [1.0, 0.5, -2.0]),
    (_spec("embedding", size=1), [0], [0.0]),
    (_spec("geospatial"), {"longitude": 3.05, "latitude": 36.75}, {"latitude": 36.75, "longitude": 3.05}),
    (_spec("geospatial"), {"latitude": -90, "longitude": 180}, {"latitude": -90, "longitude": 180}),
])
def test_valid_values_are_normalised(spec, value, normalised):
    assert validate_value(spec, value) == (normalised, None)


@pytest.mark.parametrize("spec, value, message", [
    (_spec("boolean"), "true", 'key "k": expected boolean, got "true"'),
    (_spec("boolean"), 1, 'key "k": expected boolean, got 1'),
    (_spec("boolean"), None, 'key "k": expected boolean, got null'),
    (_spec("number"), "high", 'key "k": expected number, got "high"'),
    (_spec("number"), True, 'key "k": expected number, got true'),
    (_spec("number"), float("nan"), 'key "k": expected number, got NaN'),
    (_spec("number"), float("inf"), 'key "k": expected number, got Infinity'),
    (_spec("number"), 10**400, 'key "k": expected number, got 1' + "0" * 58 + "…"),  # quoted values stop at 60
    (_spec("datetime"), "yesterday", 'key "k": expected datetime (ISO 8601), got "yesterday"'),
    (_spec("datetime"), 1714557600, 'key "k": expected datetime (ISO 8601), got 1714557600'),
    (_spec("datetime"), "2024-13-01T00:00:00", 'key "k": expected datetime (ISO 8601), got "2024-13-01T00:00:00"'),
    (_spec("uuid"), "not-a-uuid", 'key "k": expected uuid, got "not-a-uuid"'),
    (_spec("uuid"), 12, 'key "k": expected uuid, got 12'),
    (_spec("varchar", max_length=3), "abcd", 'key "k": expected varchar of at most 3 characters, got a string of 4 characters'),
    (_spec("varchar"), "x" * 8193, 'key "k": expected varchar of at most 8192 characters, got a string of 8193 characters'),
    (_spec("varchar"), 5, 'key "k": expected varchar, got 5'),
    (_spec("text"), ["a"], 'key "k": expected text, got ["a"]'),
    (_spec("enum", enum_values=("rain", "sun")), "snow", 'key "k": expected one of "rain", "sun", got "snow"'),
    (_spec("enum", enum_values=("rain", "sun")), "Sun", 'key "k": expected one of "rain", "sun", got "Sun"'),
    (_spec("enum", enum_values=tuple(f"v{i:02}" for i in range(11))), "x",
     'key "k": expected one of the 11 enum values, got "x"'),
    (_spec("embedding", size=3), [1, 2], 'key "k": expected embedding of 3 numbers, got a list of 2 values'),
    (_spec("embedding", size=3), [1, 2, "x"], 'key "k": expected embedding of 3 numbers, got "x" at index 2'),
    (_spec("embedding", size=3), [1, True, 3], 'key "k": expected embedding of 3 numbers, got true at index 1'),
    (_spec("embedding", size=3), [1, float("nan"), 3], 'key "k": expected embedding of 3 numbers, got NaN at index 1'),
    (_spec("embedding", size=3), "1,2,3", 'key "k": expected embedding of 3 numbers, got "1,2,3"'),
    (_spec("geospatial"), {"latitude": 91, "longitude": 0},
     'key "k": expected geospatial {"latitude": -90..90, "longitude": -180..180}, got {"latitude": 91, "longitude": 0}'),
    (_spec("geospatial"), {"latitude": 0, "longitude": -180.5},
     'key "k": expected geospatial {"latitude": -90..90, "longitude": -180..180}, got {"latitude": 0, "longitude": -180.5}'),
    (_spec("geospatial"), {"latitude": 1, "longitude": 2, "alt": 3},
     'key "k": expected geospatial {"latitude": -90..90, "longitude": -180..180}, got {"latitude": 1, "longitude": 2, "alt": 3}'),
    (_spec("geospatial"), {"lat": 1, "lon": 2},
     'key "k": expected geospatial {"latitude": -90..90, "longitude": -180..180}, got {"lat": 1, "lon": 2}'),
    (_spec("geospatial"), [36.7, 3.0],
     'key "k": expected geospatial {"latitude": -90..90, "longitude": -180..180}, got [36.7, 3.0]'),
])
def test_invalid_values_are_refused_with_the_key_type_and_value(spec, value, message):
    assert validate_value(spec, value) == (None, message)


# --------------------------------------------------------------------------- metadata objects

SCHEMA = Schema.of([
    KeySpec(name="score", type="number"),
    KeySpec(name="when", type="datetime"),
    KeySpec(name="weather", type="enum", enum_values=("rain", "sun")),
    KeySpec(name="clip", type="embedding", size=3),
    KeySpec(name="vehicle_count", type="number"),
])


def test_declared_values_are_normalised_and_undeclared_ones_kept_as_given():
    metadata = {"score": 2, "when": "2024-05-01T12:00:00+02:00", "site": "Algiers", "extra": {"any": [1, None]}}
    original = copy.deepcopy(metadata)
    assert validate_metadata(metadata, SCHEMA) == (
        {"score": 2, "when": "2024-05-01T10:00:00+00:00", "site": "Algiers", "extra": {"any": [1, None]}}, []
    )
    assert metadata == original  # the caller's object is not modified


def test_every_invalid_value_and_name_is_reported():
    metadata = {"score": "high", "$foo": 1, "bad!": 2, "weather": "snow", "keyframe s": 3}
    normalised, errors = validate_metadata(metadata, SCHEMA)
    assert errors == [
        MetadataError("score", "number", "high", 'key "score": expected number, got "high"'),
        MetadataError("$foo", "valid key name", 1, 'key "$foo": a key name cannot start with "$"'),
        MetadataError("bad!", "valid key name", 2,
                      'key "bad!": a key name may hold only letters, digits, "-", "_", "." and spaces'),
        MetadataError("weather", "enum", "snow", 'key "weather": expected one of "rain", "sun", got "snow"'),
        MetadataError("keyframe s", "valid key name", 3, 'key "keyframe s": "keyframe s" is reserved for key frames'),
    ]
    assert normalised == metadata


def test_soft_deleted_keys_are_untyped():
    # A deleted key is absent from the Schema, so its values are no longer checked.
    schema = Schema.of([KeySpec(name="weather", type="enum", enum_values=("sun",))])
    assert validate_metadata({"score": "high"}, schema) == ({"score": "high"}, [])
    assert schema.spec("score") is None and schema.spec("weather").enum_values == ("sun",)


def test_encord_frames_are_validated_with_the_same_schema():
    metadata = {
        "site": "Algiers",
        "$encord": {
            "config": {"sampling_rate": 1, "keyframe_mode": "frame"},
            "frames": {"111": {"vehicle_count": 4, "clip": [0.1, 0.2, 3]}, "119": {"vehicle_count": 2},
                       "120": {"clip": [1, 2], "vehicle_count": "many"}},
        },
    }
    normalised, errors = validate_metadata(metadata, SCHEMA)
    assert normalised["$encord"]["frames"]["111"] == {"vehicle_count": 4, "clip": [0.1, 0.2, 3.0]}
    assert errors == [
        MetadataError("$encord.frames.120.clip", "embedding", [1, 2],
                      'key "$encord.frames.120.clip": expected embedding of 3 numbers, got a list of 2 values'),
        MetadataError("$encord.frames.120.vehicle_count", "number", "many",
                      'key "$encord.frames.120.vehicle_count": expected number, got "many"'),
    ]


@pytest.mark.parametrize("encord, messages", [
    ({"frames": [13, 17, "20"]}, []),
    ({"config": {"keyframe_mode": "seconds"}, "frames": {"1.5": {"score": 1}, "2": {}}}, []),
    ({"config": {"keyframe_mode": "seconds"}, "frames": [0.5, 3]}, []),
    ({"config": {"sampling_rate": 0}}, []),
    ("frames", ['key "$encord": expected an object with "config" and "frames", got "frames"']),
    ({"frames": {"abc": {}}}, ['key "$encord.frames.abc": expected a frame number as the frame key']),
    ({"frames": {"1.5": {}}}, ['key "$encord.frames.1.5": expected a frame number as the frame key']),
    ({"frames": {"7": [1]}}, ['key "$encord.frames.7": expected an object (the frame\'s metadata), got [1]']),
    ({"frames": [1, -2]}, ['key "$encord.frames.1": expected a frame number, got -2']),
    ({"frames": 3}, ['key "$encord.frames": expected an object of frame metadata or a list of frames, got 3']),
    ({"frames": {"7": {"$encord": {}}}}, ['key "$encord.frames.7.$encord": a key name cannot start with "$"']),
    ({"config": {"keyframe_mode": "ms"}}, ['key "$encord.config.keyframe_mode": expected "frame" or "seconds", got "ms"']),
    ({"config": {"sampling_rate": -1}},
     ['key "$encord.config.sampling_rate": expected a number of samples per second, 0 or more, got -1']),
    ({"config": {"fps": 25}},
     ['key "$encord.config.fps": unknown; the config holds only "sampling_rate" and "keyframe_mode"']),
    ({"other": 1}, ['key "$encord.other": unknown; "$encord" holds only "config" and "frames"']),
])
def test_encord_object_shape(encord, messages):
    _, errors = validate_metadata({"$encord": encord}, SCHEMA)
    assert [error.message for error in errors] == messages


def test_legacy_keyframes_list_passes_through():
    assert validate_metadata({"keyframes": [13, 17]}, SCHEMA) == ({"keyframes": [13, 17]}, [])
    _, errors = validate_metadata({"keyframes": "13"}, SCHEMA)
    assert errors == [MetadataError("keyframes", "list of frame numbers", "13",
                                    'key "keyframes": expected a list of frame numbers, got "13"')]


def test_metadata_over_the_size_limit_is_one_error():
    metadata = {"site": "Algiers", "blob": "x" * 100}
    size = len('{"site":"Algiers","blob":"' + "x" * 100 + '"}')
    assert validate_metadata(metadata, SCHEMA, max_bytes=size) == (metadata, [])
    assert validate_metadata(metadata, SCHEMA, max_bytes=size - 1) == (metadata, [MetadataError(
        "", f"at most {size - 1} bytes", size, f"metadata: {size} bytes of JSON, more than the limit of {size - 1} bytes"
    )])


def test_metadata_must_be_an_object():
    assert validate_metadata([1], SCHEMA) == (
        [1], [MetadataError("", "object", [1], "metadata: expected a JSON object, got [1]")]
    )


def test_embedding_values_of_one_object():
    metadata = {"clip": [1, 2, 3], "score": 1, "other": [1, 2, 3],
                "$encord": {"frames": {"1": {"clip": [4, 5, 6]}}}}
    assert embedding_values(metadata, SCHEMA) == {"clip": [1.0, 2.0, 3.0]}
    assert embedding_values({"clip": [1, 2]}, SCHEMA) == {}


# --------------------------------------------------------------------------- the SDK schema body

KEYS = [
    KeySpec(name="score", type="number"),
    KeySpec(name="ok", type="boolean"),
    KeySpec(name="when", type="datetime"),
    KeySpec(name="id", type="uuid"),
    KeySpec(name="caption", type="varchar"),
    KeySpec(name="code", type="varchar", max_length=16),
    KeySpec(name="notes", type="text"),
    KeySpec(name="weather", type="enum", enum_values=("rain", "sun")),
    KeySpec(name="clip", type="embedding", size=512),
    KeySpec(name="where", type="geospatial"),
    Tombstone(name="old", deleted=KeySpec(name="old", type="enum", enum_values=("a",))),
    Tombstone(name="gone"),
]
SDK_BODY = {
    "caption": {"ty": "variant", "hint": "varchar"},
    "clip": {"ty": "embedding", "size": 512, "api": None},
    "code": {"ty": "varchar", "max_length": 16},
    "gone": {"ty": "tombstone", "deleted_ty": None},
    "id": {"ty": "variant", "hint": "uuid"},
    "notes": {"ty": "variant", "hint": "text"},
    "ok": {"ty": "variant", "hint": "boolean"},
    "old": {"ty": "tombstone", "deleted_ty": {"ty": "enum", "values": ["a"]}},
    "score": {"ty": "variant", "hint": "number"},
    "weather": {"ty": "enum", "values": ["rain", "sun"]},
    "when": {"ty": "variant", "hint": "datetime"},
    "where": {"ty": "geospatial"},
}


def test_schema_to_sdk_writes_the_v2_body():
    body = schema_to_sdk(KEYS)
    assert body == SDK_BODY
    assert list(body) == sorted(body)


def test_schema_from_sdk_reads_it_back():
    assert sorted(schema_from_sdk(SDK_BODY), key=lambda entry: entry.name) == sorted(KEYS, key=lambda e: e.name)


def test_schema_from_sdk_reads_dedicated_forms_aliases_and_the_legacy_flat_form():
    body = {
        "a": {"ty": "number", "format": "F64"}, "b": {"ty": "varchar", "max_length": 100}, "c": {"ty": "boolean"},
        "d": {"ty": "datetime", "timezone": "UTC"}, "e": {"ty": "text"}, "f": {"ty": "uuid"},
        "g": {"ty": "variant", "hint": "string"}, "h": {"ty": "variant", "hint": "long_string"},
        "i": "number", "j": "string", "k": "geospatial", "l": {"ty": "enum", "values": ["z", "a", "z"]},
        "m": {"ty": "tombstone", "deleted_ty": {"ty": "variant", "hint": "number"}}, "n": {"ty": "tombstone"},
        "o": {"ty": "tombstone", "deletedTy": {"ty": "varchar", "maxLength": 9}},
    }
    assert schema_from_sdk(body) == [
        KeySpec("a", "number"), KeySpec("b", "varchar", max_length=100), KeySpec("c", "boolean"),
        KeySpec("d", "datetime"), KeySpec("e", "text"), KeySpec("f", "uuid"), KeySpec("g", "varchar"),
        KeySpec("h", "text"), KeySpec("i", "number"), KeySpec("j", "varchar"), KeySpec("k", "geospatial"),
        KeySpec("l", "enum", enum_values=("a", "z")), Tombstone("m", KeySpec("m", "number")), Tombstone("n"),
        Tombstone("o", KeySpec("o", "varchar", max_length=9)),
    ]


def test_schema_to_legacy():
    assert schema_to_legacy([k for k in KEYS if isinstance(k, KeySpec)]) == {
        "caption": "string", "clip": "embedding", "code": "string", "id": "string", "notes": "string",
        "ok": "boolean", "score": "number", "weather": "enum", "when": "datetime", "where": "geospatial",
    }


def test_malformed_sdk_bodies_name_each_key():
    body = {
        "a": {"ty": "embedding", "size": 5000}, "b": {"ty": "foo"}, "c": {"ty": "enum", "values": []},
        "d": {"ty": "variant", "hint": "float"}, "e": "enum", "f": 3, "g": {"ty": "varchar", "max_length": 9000},
        "h": {"ty": "embedding"}, "i": {"ty": "user"}, "j": {"ty": "tombstone", "deleted_ty": {"ty": "tombstone"}},
        "k": {"ty": "datetime", "timezone": "Europe/Paris"}, "l": {"ty": "enum", "values": ["a", 1]},
        "ok": {"ty": "variant", "hint": "number"},
    }
    with pytest.raises(SchemaBodyError) as caught:
        schema_from_sdk(body)
    assert caught.value.errors == {
        "a": 'key "a": an embedding\'s size is an integer from 1 to 4096',
        "b": 'key "b": type "foo" is not supported',
        "c": 'key "c": an enum has 1 to 255 values; 0 given',
        "d": 'key "d": unknown variant hint "float"',
        "e": 'key "e": an enum needs the v2 form ({"ty": "enum", ...})',
        "f": 'key "f": expected an object with "ty"',
        "g": 'key "g": max_length must be an integer from 1 to 8192, got 9000',
        "h": 'key "h": an embedding needs an integer size, got null',
        "i": 'key "i": type "user" is not supported',
        "j": 'key "j": a tombstone cannot hold a tombstone',
        "k": 'key "k": datetimes are stored in UTC only',
        "l": 'key "l": enum values must be a list of strings, got ["a", 1]',
    }
    assert isinstance(caught.value, ValueError)
    with pytest.raises(SchemaBodyError) as caught:
        schema_from_sdk(["a"])
    assert caught.value.errors == {"": "The schema must be a JSON object mapping key names to types."}
