"""The benchmark data generator writes valid, exact, deterministic Encord-format import files."""

import json
import math
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from bench.generate import main

ITEMS = 1000
EMBEDDING_SIZE = 8
SCHEMA_TYPES = {
    "reviewed": "boolean", "score": "number", "captured_at": "datetime", "session_id": "uuid",
    "camera": "varchar", "caption": "text", "weather": "enum", "location": "geospatial",
}
WEATHER = {"sunny", "cloudy", "rain", "snow", "fog"}
MEMBER_RANGES = {"image_groups": (2, 6), "image_sequences": (5, 20), "dicom_series": (1, 8)}


def run(out: Path, *extra: str) -> Path:
    assert main(["--items", str(ITEMS), "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return run(tmp_path_factory.mktemp("bench") / "a", "--embedding-size", str(EMBEDDING_SIZE), "--seed", "7")


@pytest.fixture(scope="module")
def manifest(out_dir) -> dict:
    return json.loads((out_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def imports(out_dir, manifest) -> dict[str, dict]:
    return {f["file"]: json.loads((out_dir / f["file"]).read_text()) for f in manifest["files"]}


def entries_by_kind(data: dict) -> dict[str, list[dict]]:
    groups = data.get("image_groups", [])
    return {
        "images": data.get("images", []), "videos": data.get("videos", []), "audio": data.get("audio", []),
        "pdf": data.get("pdf", []), "text": data.get("text", []),
        "image_groups": [g for g in groups if g["createVideo"] is False],
        "image_sequences": [g for g in groups if g["createVideo"] is True],
        "dicom_series": data.get("dicom_series", []),
    }


def all_entries(imports: dict) -> list[tuple[str, dict]]:
    return [(kind, entry) for data in imports.values()
            for kind, entries in entries_by_kind(data).items() for entry in entries]


def entry_urls(entry: dict) -> list[str]:
    if "objectUrl" in entry:
        return [entry["objectUrl"]]
    return [entry[f"objectUrl_{i}"] for i in range(len([k for k in entry if k.startswith("objectUrl_")]))]


def test_counts_per_type_match_manifest_and_sum_to_items(manifest, imports):
    totals = Counter()
    for file in manifest["files"]:
        counts = {kind: len(entries) for kind, entries in entries_by_kind(imports[file["file"]]).items()}
        assert counts == file["counts"]
        assert sum(counts.values()) == file["entries"]
        totals.update(counts)
    assert dict(totals) == manifest["totals"]["counts"]
    assert dict(totals) == {"images": 700, "videos": 150, "audio": 50, "pdf": 30, "text": 30,
                            "image_groups": 20, "image_sequences": 10, "dicom_series": 10}
    assert sum(totals.values()) == ITEMS


def test_import_files_have_only_known_top_level_keys(imports):
    known = {"videos", "audio", "images", "image_groups", "dicom_series", "text", "pdf"}
    for data in imports.values():
        assert set(data) <= known


def test_urls_are_unique_and_counted(manifest, imports):
    urls = [url for _, entry in all_entries(imports) for url in entry_urls(entry)]
    assert len(urls) == len(set(urls))
    assert len(urls) == manifest["totals"]["urls"]
    assert all(url.startswith("s3://loupe-bench/site-") for url in urls)


def test_entries_live_under_their_folder(out_dir, manifest, imports):
    folders = {f["path"]: f for f in json.loads((out_dir / "folders.json").read_text())["folders"]}
    for file in manifest["files"]:
        assert folders[file["folder"]]["leaf"] is True
        for _, entry in all_entries({file["file"]: imports[file["file"]]}):
            for url in entry_urls(entry):
                assert url.startswith(f"s3://loupe-bench/{file['folder']}/")
    assert sum(f["items"] for f in folders.values()) == ITEMS
    for folder in folders.values():
        assert folder["parent"] is None or folder["parent"] in folders
        assert folder["path"].count("/") <= 2


def test_multi_file_entries_have_member_counts_in_range(imports):
    for kind, entry in all_entries(imports):
        if kind in MEMBER_RANGES:
            low, high = MEMBER_RANGES[kind]
            assert low <= len(entry_urls(entry)) <= high


def assert_client_metadata_types(meta: dict) -> None:
    assert set(SCHEMA_TYPES) <= set(meta)
    assert type(meta["reviewed"]) is bool
    assert type(meta["score"]) is float and 0.0 <= meta["score"] <= 1.0
    stamp = datetime.fromisoformat(meta["captured_at"])
    assert datetime(2022, 12, 31) <= stamp.replace(tzinfo=None) <= datetime(2025, 1, 2)
    assert str(uuid.UUID(meta["session_id"])) == meta["session_id"].lower()
    assert isinstance(meta["camera"], str) and 0 < len(meta["camera"]) <= 64
    assert isinstance(meta["caption"], str) and meta["caption"]
    assert meta["weather"] in WEATHER
    location = meta["location"]
    assert set(location) == {"latitude", "longitude"}
    assert type(location["latitude"]) is float and -90 <= location["latitude"] <= 90
    assert type(location["longitude"]) is float and -180 <= location["longitude"] <= 180


def test_every_entry_has_the_eight_keys_with_valid_values(imports):
    for kind, entry in all_entries(imports):
        meta = entry["clientMetadata"]
        assert_client_metadata_types(meta)
        expected = set(SCHEMA_TYPES) | ({"clip"} if kind == "images" else set())
        assert set(meta) - {"$encord"} == expected
        assert "$encord" not in meta or kind == "videos"


def assert_clip(vector) -> None:
    assert len(vector) == EMBEDDING_SIZE
    assert all(type(x) is float and math.isfinite(x) for x in vector)
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-3)


def test_images_and_video_frames_carry_clip_embeddings_of_the_declared_size(manifest, imports):
    vectors = frames = 0
    for kind, entry in all_entries(imports):
        meta = entry["clientMetadata"]
        if kind == "images":
            assert_clip(meta["clip"])
            vectors += 1
        encord = meta.get("$encord")
        if encord:
            assert encord["config"]["keyframe_mode"] == "frame"
            assert encord["config"]["sampling_rate"] in (0, 1)
            assert 1 <= len(encord["frames"]) <= 5
            for frame, frame_meta in encord["frames"].items():
                assert int(frame) >= 0
                assert_clip(frame_meta["clip"])
                frames += 1
    assert frames > 0
    assert vectors + frames == manifest["totals"]["vectors"]
    assert frames == manifest["totals"]["frames"]


def test_media_metadata_blocks_are_present_and_plausible(imports):
    block_names = {"images": "imageMetadata", "videos": "videoMetadata", "audio": "audioMetadata"}
    for kind, entry in all_entries(imports):
        if kind not in block_names:
            continue
        block = entry[block_names[kind]]
        size = block.get("file_size", block.get("fileSize"))
        assert isinstance(size, int) and size > 0
        mime = block.get("mime_type", block.get("mimeType"))
        assert mime.split("/")[0] in ("image", "video", "audio")
        if kind != "audio":
            assert block["width"] > 0 and block["height"] > 0
        if kind == "videos":
            assert block["fps"] > 0 and block["duration"] > 0


def test_schema_declares_exactly_the_keys_and_types(out_dir):
    schema = json.loads((out_dir / "schema.json").read_text())
    assert {key: option["ty"] for key, option in schema.items()} == {**SCHEMA_TYPES, "clip": "embedding"}
    assert schema["clip"] == {"ty": "embedding", "size": EMBEDDING_SIZE, "api": None}
    assert sorted(schema["weather"]["values"]) == sorted(WEATHER)


def test_same_seed_gives_identical_bytes(tmp_path, out_dir):
    again = run(tmp_path / "b", "--embedding-size", str(EMBEDDING_SIZE), "--seed", "7")
    first = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*.json"))
    assert first == sorted(p.relative_to(again) for p in again.rglob("*.json"))
    for relative in first:
        assert (out_dir / relative).read_bytes() == (again / relative).read_bytes(), relative


def test_other_seed_gives_other_data(tmp_path, out_dir):
    other = run(tmp_path / "c", "--embedding-size", str(EMBEDDING_SIZE), "--seed", "8")
    assert (other / "manifest.json").read_bytes() != (out_dir / "manifest.json").read_bytes()


def test_files_per_json_splits_files(tmp_path):
    out = run(tmp_path / "d", "--files-per-json", "100", "--no-media-metadata")
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(f["entries"] <= 100 for f in manifest["files"])
    assert sum(f["entries"] for f in manifest["files"]) == ITEMS
    urls = []
    for file in manifest["files"]:
        data = json.loads((out / file["file"]).read_text())
        for _, entry in all_entries({file["file"]: data}):
            assert not {"imageMetadata", "videoMetadata", "audioMetadata"} & set(entry)
            assert "clip" not in entry["clientMetadata"]
            urls.extend(entry_urls(entry))
    assert len(urls) == len(set(urls))
    schema = json.loads((out / "schema.json").read_text())
    assert set(schema) == set(SCHEMA_TYPES)
