"""The JSON registration format: streaming scan, entry pass, per-entry validation (no Django)."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
from decimal import Decimal

import pytest

from apps.imports.importformat import (
    IJSON_BACKEND,
    LIMITS,
    EntryError,
    ImportEntry,
    ImportFileError,
    ImportOptions,
    Limits,
    iter_import_entries,
    json_plain,
    scan_import_file,
    validate_entry,
)

SCHEMES = "(use file://, http://, https:// or s3://)"


def _file(document) -> io.BytesIO:
    return io.BytesIO(document if isinstance(document, bytes) else json.dumps(document).encode())


def _entries(document, **kwargs) -> list:
    return list(iter_import_entries(_file(document), **kwargs))


def _error(kind_key, raw, limits=LIMITS) -> tuple[str, str]:
    result = validate_entry(kind_key, 0, 0, raw, limits)
    assert isinstance(result, EntryError), result
    return result.pointer, result.reason


def _video(**fields) -> dict:
    return {"objectUrl": "s3://b/v.mp4", **fields}


def _encord(block) -> dict:
    return _video(clientMetadata={"$encord": block})


class _SeekCountingFile(io.BytesIO):
    seeks = 0

    def seek(self, *args):
        self.seeks += 1
        return super().seek(*args)


def test_the_c_backend_is_used():
    assert IJSON_BACKEND == "yajl2_c"


def test_scan_reads_options_placed_after_the_arrays():
    document = {"videos": [_video()], "upsert_metadata": True, "skip_duplicate_urls": True}

    assert scan_import_file(_file(document)) == (ImportOptions(True, True), {"videos": 1})


def test_scan_defaults_options_to_false():
    assert scan_import_file(_file({"images": []})) == (ImportOptions(False, False), {"images": 0})


def test_scan_counts_entries_per_key_in_file_order_as_spelled():
    document = {"pdfs": [{"objectUrl": "https://h/a.pdf"}, 3], "skip_duplicate_urls": False,
                "image_groups": [{"objectUrl_0": "https://h/0.jpg", "objectUrl_1": "https://h/1.jpg"}],
                "videos": []}

    options, counts = scan_import_file(_file(document))

    assert options == ImportOptions(False, False)
    assert list(counts.items()) == [("pdfs", 2), ("image_groups", 1), ("videos", 0)]


def test_the_c_scan_counts_what_the_event_by_event_scan_counts():
    from apps.imports import importformat

    document = {"images": [{"objectUrl": "https://h/a.jpg", "clientMetadata": {"objectUrl": "x", "clip": [0.5] * 64}},
                           [{"objectUrl": "https://h/in-a-list.jpg"}], "not an entry"],
                "upsert_metadata": True,
                "dicom_series": [{"objectUrl_0": "https://h/0.dcm", "objectUrl_7": "https://h/7.dcm", "title": "s"}],
                "text": []}
    data = json.dumps(document).encode()

    in_c = importformat._scan_in_c(io.BytesIO(data))
    by_event = importformat._scan_top_level(importformat._ijson.basic_parse(io.BytesIO(data), use_float=True))

    assert in_c[:2] == by_event[:2] == ({"upsert_metadata": True}, {"images": 3, "dicom_series": 1, "text": 0})
    assert (by_event[2], in_c[2]) == (3, 5)  # the C scan's URL count is a bound: it sees nested keys too
    assert importformat._scan_in_c(io.BytesIO(data), Limits(max_urls=4)) is None  # the exact count decides
    assert scan_import_file(io.BytesIO(data), limits=Limits(max_urls=3))[1] == by_event[1]


@pytest.mark.parametrize("data", [b'{"images": [], "images": []}', b'{"imagez": []}', b'{"images": {}}',
                                  b'{"skip_duplicate_urls": 1}', b'[]', b'{}', b'{"images": [1e999]}'])
def test_the_c_scan_leaves_unusual_files_to_the_event_by_event_scan(data):
    from apps.imports import importformat

    fileobj = io.BytesIO(data)

    assert importformat._scan_in_c(fileobj) is None
    assert fileobj.tell() == 0


def test_every_data_type_parses_into_exact_entries():
    video_metadata = {"fps": 25, "duration": 29.08, "width": 1280, "height": 720,
                      "file_size": 5468354, "mime_type": "video/mp4"}
    video_client_metadata = {"site": "Algiers", "$encord": {
        "config": {"sampling_rate": 0, "keyframe_mode": "frame"},
        "frames": {"0": {"vehicle_count": 3, "clip": [0.12, 0.53, 0.9]}}}}
    image_metadata = {"mime_type": "image/jpeg", "file_size": 123456, "width": 1920, "height": 1080}
    document = {
        "videos": [{"objectUrl": "s3://bucket/cam/video3.mp4", "title": "video3.mp4",
                    "videoMetadata": video_metadata, "clientMetadata": video_client_metadata}],
        "audio": [{"objectUrl": "https://host/a/clip.mp3", "clientMetadata": {"speaker": "A"}}],
        "images": [{"objectUrl": "https://host/img/0001.jpg", "title": "0001.jpg",
                    "imageMetadata": image_metadata}],
        "image_groups": [
            {"title": "group-1", "createVideo": False, "objectUrl_1": "https://host/g1/1.jpg",
             "objectUrl_0": "https://host/g1/0.jpg", "clientMetadata": {"scene": "night"}},
            {"createVideo": True, "objectUrl_0": "https://host/s1/000.jpg",
             "objectUrl_10": "https://host/s1/010.jpg", "objectUrl_2": "https://host/s1/002.jpg"}],
        "dicom_series": [{"title": "study-1-series-3", "objectUrl_0": "file:///data/dcm/s3/1.dcm",
                          "objectUrl_1": "file:///data/dcm/s3/2.dcm", "clientMetadata": {"modality": "CT"}}],
        "text": [{"objectUrl": "https://host/t/doc.txt"}],
        "pdf": [{"objectUrl": "https://host/p/doc.pdf", "title": "contract.pdf"}],
        "nifti": [{"objectUrl": "s3://scans/brain/t1.nii.gz", "clientMetadata": {"keyframes": [13, 17]}}],
        "skip_duplicate_urls": True,
    }

    assert _entries(document) == [
        ImportEntry(0, "/videos/0", "video", ("s3://bucket/cam/video3.mp4",), "video3.mp4",
                    video_client_metadata, video_metadata, False),
        ImportEntry(1, "/audio/0", "audio", ("https://host/a/clip.mp3",), "/a/clip.mp3",
                    {"speaker": "A"}, None, False),
        ImportEntry(2, "/images/0", "image", ("https://host/img/0001.jpg",), "0001.jpg", {},
                    image_metadata, False),
        ImportEntry(3, "/image_groups/0", "image_group", ("https://host/g1/0.jpg", "https://host/g1/1.jpg"),
                    "group-1", {"scene": "night"}, None, False),
        ImportEntry(4, "/image_groups/1", "image_sequence",
                    ("https://host/s1/000.jpg", "https://host/s1/002.jpg", "https://host/s1/010.jpg"),
                    "s1", {}, None, True),
        ImportEntry(5, "/dicom_series/0", "dicom_series",
                    ("file:///data/dcm/s3/1.dcm", "file:///data/dcm/s3/2.dcm"),
                    "study-1-series-3", {"modality": "CT"}, None, False),
        ImportEntry(6, "/text/0", "text", ("https://host/t/doc.txt",), "/t/doc.txt", {}, None, False),
        ImportEntry(7, "/pdf/0", "pdf", ("https://host/p/doc.pdf",), "contract.pdf", {}, None, False),
        ImportEntry(8, "/nifti/0", "nifti", ("s3://scans/brain/t1.nii.gz",), "/brain/t1.nii.gz",
                    {"keyframes": [13, 17]}, None, False),
    ]


def test_numbers_come_out_as_plain_ints_and_floats():
    document = {"videos": [_video(videoMetadata={"duration": 29.08, "fps": 25},
                                  clientMetadata={"clip": [0.5, 1, 1e3]})]}

    entry = _entries(document)[0]

    assert [type(value) for value in entry.media_metadata.values()] == [float, int]
    assert [type(value) for value in entry.client_metadata["clip"]] == [float, int, float]


def test_integers_beyond_64_bits_are_kept_exactly():
    data = (b'{"images": [{"objectUrl": "s3://b/0.jpg", "clientMetadata": {"score": 0.5}}, '
            b'{"objectUrl": "s3://b/1.jpg", '
            b'"clientMetadata": {"id": 123456789012345678901234, "score": 0.25}}, '
            b'{"objectUrl": "s3://b/2.jpg", "imageMetadata": {"file_size": 18446744073709551616}}]}')

    results = list(iter_import_entries(io.BytesIO(data)))

    assert [(result.client_metadata, result.media_metadata) for result in results] == [
        ({"score": 0.5}, None),
        ({"id": 123456789012345678901234, "score": 0.25}, None),
        ({}, {"file_size": 18446744073709551616}),
    ]
    assert type(results[1].client_metadata["score"]) is float


def test_a_number_beyond_the_range_of_a_float_fails_only_its_entry():
    data = (b'{"images": [{"objectUrl": "s3://b/0.jpg"}, '
            b'{"objectUrl": "s3://b/1.jpg", "clientMetadata": {"huge": 1E400}}, '
            b'{"objectUrl": "s3://b/2.jpg"}]}')

    results = list(iter_import_entries(io.BytesIO(data)))

    assert [type(result) for result in results] == [ImportEntry, EntryError, ImportEntry]
    assert str(results[1]) == "/images/1: holds the number 1E+400, beyond the range of a float"


def test_pdfs_is_an_alias_of_pdf():
    document = {"pdfs": [{"objectUrl": "https://host/p/a.pdf"}, {"objectUrl": "ftp://host/p/b.pdf"}]}

    assert _entries(document) == [
        ImportEntry(0, "/pdfs/0", "pdf", ("https://host/p/a.pdf",), "/p/a.pdf", {}, None, False),
        EntryError(1, "/pdfs/1/objectUrl", f'scheme "ftp" is not supported {SCHEMES}'),
    ]


def test_camel_case_media_blocks_are_normalised_to_snake_case():
    document = {
        "videos": [_video(videoMetadata={"fileSize": 10, "mimeType": "video/mp4", "fps": 30})],
        "images": [{"objectUrl": "s3://b/i.png",
                    "imageMetadata": {"mimeType": "image/png", "fileSize": 5, "width": 2}}],
        "audio": [{"objectUrl": "s3://b/a.wav", "audioMetadata": {
            "sampleRate": 44100, "bitDepth": 16, "numChannels": 2, "fileSize": 99, "duration": 1.5,
            "codec": "pcm", "mimeType": "audio/wav"}}],
    }

    assert [entry.media_metadata for entry in _entries(document)] == [
        {"file_size": 10, "mime_type": "video/mp4", "fps": 30},
        {"mime_type": "image/png", "file_size": 5, "width": 2},
        {"sample_rate": 44100, "bit_depth": 16, "num_channels": 2, "file_size": 99, "duration": 1.5,
         "codec": "pcm", "mime_type": "audio/wav"},
    ]


def test_validate_entry_converts_decimals_and_whole_floats():
    raw = _video(videoMetadata={"duration": Decimal("29.08"), "width": 1280.0},
                 clientMetadata={"score": Decimal("0.5"), "n": Decimal("3"), "big": Decimal("1E+3")})

    entry = validate_entry("videos", 4, 9, raw, LIMITS)

    assert (entry.index, entry.pointer) == (9, "/videos/4")
    assert entry.media_metadata == {"duration": 29.08, "width": 1280}
    assert type(entry.media_metadata["width"]) is int
    assert entry.client_metadata == {"score": 0.5, "n": 3, "big": 1000.0}
    assert [type(value) for value in entry.client_metadata.values()] == [float, int, float]


def test_json_plain_keeps_containers_without_decimals():
    value = {"a": [1, 2.5, {"b": "c"}]}

    assert json_plain(value) is value
    assert json_plain([Decimal("1.5"), Decimal("2")]) == [1.5, 2]


def test_default_titles():
    document = {
        "videos": [{"objectUrl": "https://host/path/to/video23.mp4?sig=abc"},
                   {"objectUrl": "https://host?id=4"},
                   {"objectUrl": "file:///" + "d" * 400 + "/clip.mp4"}],
        "image_groups": [{"objectUrl_3": "https://host/a/b/9.jpg", "objectUrl_1": "https://host/a/c/1.jpg"},
                         {"objectUrl_0": "s3://bucket/0.jpg"}],
        "dicom_series": [{"objectUrl_0": "file:///data/dcm/s3/1.dcm"}],
    }

    assert [entry.title for entry in _entries(document)] == [
        "/path/to/video23.mp4", "https://host?id=4", "d" * 291 + "/clip.mp4", "c", "/0.jpg", "s3"]


def test_valid_encord_blocks_are_kept_as_given():
    metadata = [
        {"$encord": {"config": {"sampling_rate": "2"}, "frames": ["111", 113]}},
        {"$encord": {"config": {"sampling_rate": 0.5, "keyframe_mode": "seconds"},
                     "frames": {"1.5": {"clip": [0.1]}, "3": {}}}},
        {"$encord": {"config": {"keyframe_mode": "seconds"}, "frames": ["0.25", 2, 2.5]}},
        {"$encord": {"frames": {"0": {}, "120": {"vehicle_count": 5}}}, "keyframes": [0, 7]},
    ]
    document = {"videos": [_video(clientMetadata=one) for one in metadata]}

    assert [entry.client_metadata for entry in _entries(document)] == metadata


@pytest.mark.parametrize(
    ("kind_key", "raw", "pointer", "reason"),
    [
        # the entry and its keys
        ("images", "https://h/a.jpg", "/images/0", 'an entry must be an object, not "https://h/a.jpg"'),
        ("images", {"objectURL": "https://h/a.jpg"}, "/images/0",
         '2 problems: /images/0/objectURL: unknown key "objectURL" (did you mean "objectUrl"?); '
         "/images/0/objectUrl: missing: every entry needs the URL of its file"),
        ("videos", _video(client_metadata={}), "/videos/0/client_metadata",
         'unknown key "client_metadata" (did you mean "clientMetadata"?)'),
        ("videos", _video(createVideo=True), "/videos/0/createVideo",
         'unknown key "createVideo" (only image_groups entries take it)'),
        ("videos", _video(imageMetadata={}), "/videos/0/imageMetadata",
         'unknown key "imageMetadata" (did you mean "videoMetadata"?)'),
        ("audio", {"objectUrl": "s3://b/a.mp3", "imageMetadata": {}}, "/audio/0/imageMetadata",
         'unknown key "imageMetadata" (only images entries take it)'),
        ("text", {"objectUrl": "s3://b/t.txt", "dataTitle": "x"}, "/text/0/dataTitle",
         'unknown key "dataTitle"'),
        # objectUrl
        ("images", {"title": "a"}, "/images/0/objectUrl", "missing: every entry needs the URL of its file"),
        ("images", {"objectUrl": 42}, "/images/0/objectUrl", "must be a string, not 42"),
        ("images", {"objectUrl": None}, "/images/0/objectUrl", "must be a string, not null"),
        ("images", {"objectUrl": ""}, "/images/0/objectUrl", "must not be empty"),
        ("images", {"objectUrl": " https://h/a.jpg"}, "/images/0/objectUrl",
         "must not start or end with whitespace"),
        ("images", {"objectUrl": "ftp://h/a.jpg"}, "/images/0/objectUrl",
         f'scheme "ftp" is not supported {SCHEMES}'),
        ("images", {"objectUrl": "/data/a.jpg"}, "/images/0/objectUrl", f"is not a URL {SCHEMES}"),
        ("images", {"objectUrl": "https:///a.jpg"}, "/images/0/objectUrl", "has no host"),
        ("images", {"objectUrl": "s3://bucket/"}, "/images/0/objectUrl", "must be s3://bucket/key"),
        ("images", {"objectUrl": "file://"}, "/images/0/objectUrl", "must be file:///path/to/file"),
        ("pdfs", {"objectUrl": "S3://"}, "/pdfs/0/objectUrl", "must be s3://bucket/key"),
        # objectUrl_N
        ("image_groups", {"title": "g"}, "/image_groups/0/objectUrl_0",
         'missing: a group needs at least one "objectUrl_N" key'),
        ("dicom_series", {"title": "s"}, "/dicom_series/0/objectUrl_0",
         'missing: a series needs at least one "objectUrl_N" key'),
        ("image_groups", {"objectUrl": "https://h/0.jpg"}, "/image_groups/0",
         '2 problems: /image_groups/0/objectUrl: unknown key "objectUrl" (did you mean "objectUrl_0"?); '
         '/image_groups/0/objectUrl_0: missing: a group needs at least one "objectUrl_N" key'),
        ("image_groups", {"objectUrl_0": "https://h/0.jpg", "objectUrl_a": "https://h/a.jpg"},
         "/image_groups/0/objectUrl_a",
         'the position after "objectUrl_" must be a non-negative integer, not "a"'),
        ("image_groups", {"objectUrl_-1": "https://h/0.jpg"}, "/image_groups/0/objectUrl_-1",
         'the position after "objectUrl_" must be a non-negative integer, not "-1"'),
        ("image_groups", {"objectUrl_1": "https://h/1.jpg", "objectUrl_01": "https://h/01.jpg"},
         "/image_groups/0/objectUrl_01", 'position 1 is also given by "objectUrl_1"'),
        ("image_groups", {"objectUrl_0": "https://h/0.jpg", "objectUrl_7": 7}, "/image_groups/0/objectUrl_7",
         "must be a string, not 7"),
        ("dicom_series", {"objectUrl_0": "file:///d/1.dcm", "createVideo": True},
         "/dicom_series/0/createVideo",
         'unknown key "createVideo" (only image_groups entries take it)'),
        # createVideo and title
        ("image_groups", {"objectUrl_0": "https://h/0.jpg", "createVideo": "yes"},
         "/image_groups/0/createVideo",
         'must be true or false, not "yes"'),
        ("videos", _video(title=5), "/videos/0/title", "must be a string, not 5"),
        ("videos", _video(title="  "), "/videos/0/title",
         "must not be blank (leave it out to use the default)"),
        ("videos", _video(title="x" * 301), "/videos/0/title",
         "301 characters long, more than the limit of 300"),
        # media metadata blocks
        ("videos", _video(videoMetadata=[]), "/videos/0/videoMetadata", "must be an object, not a list"),
        ("videos", _video(videoMetadata={"bitrate": 5}), "/videos/0/videoMetadata/bitrate",
         'unknown key "bitrate"'),
        ("videos", _video(videoMetadata={"file-size": 5}), "/videos/0/videoMetadata/file-size",
         'unknown key "file-size" (did you mean "file_size"?)'),
        ("images", {"objectUrl": "s3://b/i.jpg", "imageMetadata": {"fps": 5}}, "/images/0/imageMetadata/fps",
         'unknown key "fps"'),
        ("videos", _video(videoMetadata={"file_size": 1, "fileSize": 1}), "/videos/0/videoMetadata/fileSize",
         '"fileSize" repeats "file_size"'),
        ("videos", _video(videoMetadata={"width": 12.5}), "/videos/0/videoMetadata/width",
         "must be a non-negative integer, not 12.5"),
        ("videos", _video(videoMetadata={"height": "720"}), "/videos/0/videoMetadata/height",
         'must be a non-negative integer, not "720"'),
        ("videos", _video(videoMetadata={"fps": -1}), "/videos/0/videoMetadata/fps",
         "must be a non-negative number, not -1"),
        ("videos", _video(videoMetadata={"duration": True}), "/videos/0/videoMetadata/duration",
         "must be a non-negative number, not true"),
        ("videos", _video(videoMetadata={"mimeType": 3}), "/videos/0/videoMetadata/mimeType",
         "must be a string, not 3"),
        ("audio", {"objectUrl": "s3://b/a.wav", "audioMetadata": {"sampleRate": 44100.5}},
         "/audio/0/audioMetadata/sampleRate", "must be a non-negative integer, not 44100.5"),
        # clientMetadata
        ("images", {"objectUrl": "s3://b/i.jpg", "clientMetadata": []}, "/images/0/clientMetadata",
         "must be an object, not a list"),
        # clientMetadata: the metadata rules (apps.metadata.encord_rules, validation), as the metadata API words them
        ("images", {"objectUrl": "s3://b/i.jpg", "clientMetadata": {"ok": 1, "$weird": 1}},
         "/images/0/clientMetadata/$weird", 'key "$weird": a key name cannot start with "$"'),
        ("images", {"objectUrl": "s3://b/i.jpg", "clientMetadata": {"$a/b~c": 1}},
         "/images/0/clientMetadata/$a~1b~0c", 'key "$a/b~c": a key name cannot start with "$"'),
        ("videos", _encord(3), "/videos/0/clientMetadata/$encord",
         'key "$encord": expected an object with "config" and "frames", got 3'),
        ("videos", _encord({"frame": {}}), "/videos/0/clientMetadata/$encord/frame",
         'key "$encord.frame": unknown; "$encord" holds only "config" and "frames"'),
        ("videos", _encord({"config": []}), "/videos/0/clientMetadata/$encord/config",
         'key "$encord.config": expected an object, got []'),
        ("videos", _encord({"config": {"sampling": 1}}), "/videos/0/clientMetadata/$encord/config/sampling",
         'key "$encord.config.sampling": unknown; the config holds only "sampling_rate" and "keyframe_mode"'),
        ("videos", _encord({"config": {"sampling_rate": -1}}),
         "/videos/0/clientMetadata/$encord/config/sampling_rate",
         'key "$encord.config.sampling_rate": expected a number of samples per second, 0 or more, got -1'),
        ("videos", _encord({"config": {"sampling_rate": "1/2"}}),
         "/videos/0/clientMetadata/$encord/config/sampling_rate",
         'key "$encord.config.sampling_rate": expected a number of samples per second, 0 or more, got "1/2"'),
        ("videos", _encord({"config": {"keyframe_mode": "time"}}),
         "/videos/0/clientMetadata/$encord/config/keyframe_mode",
         'key "$encord.config.keyframe_mode": expected "frame" or "seconds", got "time"'),
        ("videos", _encord({"frames": "1,2"}), "/videos/0/clientMetadata/$encord/frames",
         'key "$encord.frames": expected an object of frame metadata or a list of frames, got "1,2"'),
        ("videos", _encord({"frames": {"1.5": {}}}), "/videos/0/clientMetadata/$encord/frames/1.5",
         'key "$encord.frames.1.5": expected a frame number as the frame key'),
        ("videos", _encord({"frames": {"007": {}}}), "/videos/0/clientMetadata/$encord/frames/007",
         'key "$encord.frames.007": expected a frame number as the frame key'),
        ("videos", _encord({"config": {"keyframe_mode": "seconds"}, "frames": {"2": {}, "-1": {}}}),
         "/videos/0/clientMetadata/$encord/frames/-1",
         'key "$encord.frames.-1": expected a number of seconds as the frame key'),
        ("videos", _encord({"frames": {"3": 4}}), "/videos/0/clientMetadata/$encord/frames/3",
         'key "$encord.frames.3": expected an object (the frame\'s metadata), got 4'),
        ("videos", _encord({"frames": [1, "x"]}), "/videos/0/clientMetadata/$encord/frames/1",
         'key "$encord.frames.1": expected a frame number, got "x"'),
        ("videos", _encord({"frames": [-2]}), "/videos/0/clientMetadata/$encord/frames/0",
         'key "$encord.frames.0": expected a frame number, got -2'),
        ("videos", _video(clientMetadata={"keyframes": "13"}), "/videos/0/clientMetadata/keyframes",
         'key "keyframes": expected a list of frame numbers, got "13"'),
        ("videos", _video(clientMetadata={"keyframes": [1, 2.5]}), "/videos/0/clientMetadata/keyframes",
         'key "keyframes": expected a list of frame numbers, got [1, 2.5]'),
        # file:// URLs name no host (or localhost): the file is on Loupe's own machine
        ("images", {"objectUrl": "file://nas/share/a.jpg"}, "/images/0/objectUrl",
         'names the host "nas": a file:// URL is a file on the machine Loupe runs on, so it has no host '
         "(file:///path/to/file)"),
    ],
)
def test_entry_errors_name_the_field_and_the_reason(kind_key, raw, pointer, reason):
    assert _error(kind_key, raw) == (pointer, reason)


def test_url_length_limit_counts_utf8_bytes():
    limits = Limits(max_url_length=20)

    assert _error("images", {"objectUrl": "https://h/" + "a" * 11}, limits) == (
        "/images/0/objectUrl", "21 bytes long, more than the limit of 20")
    assert _error("images", {"objectUrl": "https://h/" + "é" * 6}, limits) == (
        "/images/0/objectUrl", "22 bytes long, more than the limit of 20")
    short_enough = validate_entry("images", 0, 0, {"objectUrl": "https://h/" + "a" * 10}, limits)
    assert isinstance(short_enough, ImportEntry)


def test_group_size_limit():
    raw = {f"objectUrl_{n}": f"https://h/{n}.jpg" for n in range(3)}

    assert _error("image_groups", raw, Limits(max_group_size=2)) == (
        "/image_groups/0", '3 "objectUrl_N" keys, more than the limit of 2 per group')
    assert validate_entry("image_groups", 0, 0, raw, Limits(max_group_size=3)).urls == tuple(raw.values())


def test_validate_entry_refuses_an_unknown_data_key():
    with pytest.raises(ValueError, match="unknown data key 'movies'"):
        validate_entry("movies", 0, 0, _video(), LIMITS)


def test_bad_entries_do_not_stop_the_others():
    document = {"images": [{"objectUrl": "s3://b/1.jpg"}, {"objectUrl": "s3://b/2.jpg", "title": 3}, None,
                           {"objectUrl": "s3://b/4.jpg"}]}

    results = _entries(document)

    assert [type(result) for result in results] == [ImportEntry, EntryError, EntryError, ImportEntry]
    assert [str(result) for result in results[1:3]] == [
        "/images/1/title: must be a string, not 3", "/images/2: an entry must be an object, not null"]
    assert [result.index for result in results] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("data", "pointer", "reason"),
    [
        (b"", "", "not valid JSON: parse error: premature EOF near byte 0 (line 1, column 1)"),
        (b"[1, 2]", "", "the top level must be an object, not a list"),
        (b'"videos"', "", "the top level must be an object, not a string"),
        (b'{"videos": [], "vidoes": []}', "/vidoes",
         'unknown top-level key "vidoes" (did you mean "videos"?)'),
        (b'{"skipDuplicateUrls": true}', "/skipDuplicateUrls",
         'unknown top-level key "skipDuplicateUrls" (did you mean "skip_duplicate_urls"?)'),
        (b'{"a/b": 1}', "/a~1b", 'unknown top-level key "a/b"'),
        (b'{"videos": {"objectUrl": "s3://b/v.mp4"}}', "/videos", "must be a list, not an object"),
        (b'{"images": null}', "/images", "must be a list, not null"),
        (b'{"images": [], "images": []}', "/images", '"images" appears more than once'),
        (b'{"skip_duplicate_urls": "yes"}', "/skip_duplicate_urls", "must be true or false, not a string"),
        # yajl points at the byte where it noticed the problem: the offending one or just after it
        (b'{"images": []} []', "",
         "not valid JSON: parse error: trailing garbage near byte 16 (line 1, column 17)"),
        (b'{"images": [\n  {"objectUrl": "s3://b/1.jpg",}\n]}', "",
         "not valid JSON: parse error: invalid object key (must be a string) "
         "near byte 45 (line 2, column 33)"),
        (b'{"images": [{"objectUrl": "s3://b/\xff.jpg"}]}', "",
         "not valid JSON: lexical error: invalid bytes in UTF8 string near byte 35 (line 1, column 36)"),
    ],
)
def test_file_errors(data, pointer, reason):
    with pytest.raises(ImportFileError) as caught:
        scan_import_file(io.BytesIO(data))

    assert (caught.value.pointer, caught.value.reason) == (pointer, reason)
    assert str(caught.value) == (f"{pointer}: {reason}" if pointer else reason)


def test_a_syntax_error_deep_in_a_large_file_is_located_exactly():
    head = b'{"images": [' + b",\n".join(b'{"objectUrl": "s3://b/%06d.jpg"}' % n for n in range(10_000))
    data = head + b',\n{"objectUrl": #}]}'

    with pytest.raises(ImportFileError) as caught:
        scan_import_file(io.BytesIO(data))

    after_hash = data.index(b"#") + 1
    assert len(data) > 5 * 64 * 1024  # several of ijson's 64 KB reads
    assert caught.value.reason == (
        f"not valid JSON: lexical error: invalid char in json text near byte {after_hash:,} "
        "(line 10,001, column 16)")


def test_entry_limit_raises_before_any_entry():
    document = {"images": [{"objectUrl": f"s3://b/{n}.jpg"} for n in range(3)],
                "text": [{"objectUrl": "s3://b/t"}]}

    with pytest.raises(ImportFileError) as caught:
        iter_import_entries(_file(document), limits=Limits(max_entries=3))

    assert (caught.value.pointer, caught.value.reason) == ("", "4 entries, more than the limit of 3 per file")
    assert len(_entries(document, limits=Limits(max_entries=4))) == 4


def test_url_limit_raises_before_any_entry():
    document = {"image_groups": [{"objectUrl_0": "s3://b/0.jpg", "objectUrl_1": "s3://b/1.jpg"}],
                "videos": [_video()]}

    with pytest.raises(ImportFileError) as caught:
        iter_import_entries(_file(document), limits=Limits(max_urls=2))

    assert (caught.value.pointer, caught.value.reason) == ("", "3 URLs, more than the limit of 2 per file")
    assert scan_import_file(_file(document), limits=Limits(max_urls=3))[1] == {"image_groups": 1, "videos": 1}


def test_limit_messages_use_thousands_separators():
    document = {"text": [{"objectUrl": "s3://b/t"}] * 1001}

    with pytest.raises(ImportFileError, match="^1,001 entries, more than the limit of 1,000 per file$"):
        scan_import_file(_file(document), limits=Limits(max_entries=1000))


def test_truncated_file_raises_after_the_entries_before_the_cut():
    document = {"images": [{"objectUrl": f"s3://b/{n}.jpg"} for n in range(4)]}
    counts = scan_import_file(_file(document))[1]
    data = json.dumps(document).encode()
    truncated = data[: data.index(b"s3://b/3.jpg")]
    results = []

    with pytest.raises(ImportFileError) as caught:
        for result in iter_import_entries(io.BytesIO(truncated), counts=counts):
            results.append(result)

    assert [result.urls for result in results] == [("s3://b/0.jpg",), ("s3://b/1.jpg",), ("s3://b/2.jpg",)]
    assert caught.value.reason == (
        f"not valid JSON: parse error: premature EOF near byte {len(truncated)} "
        f"(line 1, column {len(truncated) + 1})")


def test_stale_counts_are_detected():
    with pytest.raises(ImportFileError) as caught:
        _entries({"images": [{"objectUrl": "s3://b/0.jpg"}]}, counts={"images": 2})

    assert str(caught.value) == "/images: has 1 entries but the scan counted 2: the file changed"


def test_resume_from_start_index_gives_the_same_entries_as_a_full_read():
    document = {"videos": [{"objectUrl": f"s3://b/{n}.mp4"} for n in range(3)], "upsert_metadata": False,
                "images": [{"objectUrl": f"s3://b/{n}.jpg"} for n in range(4)], "text": [],
                "pdfs": [{"objectUrl": "s3://b/p.pdf"}]}
    everything = _entries(document)

    for start_index in range(len(everything) + 2):
        assert _entries(document, start_index=start_index) == everything[start_index:]
    assert [entry.index for entry in everything] == list(range(8))


def test_resume_gives_no_pass_to_keys_wholly_before_start_index():
    document = {"videos": [{"objectUrl": f"s3://b/{n}.mp4"} for n in range(3)],
                "images": [{"objectUrl": f"s3://b/{n}.jpg"} for n in range(2)]}
    fileobj = _SeekCountingFile(json.dumps(document).encode())
    counts = scan_import_file(fileobj)[1]
    fileobj.seek(0)
    fileobj.seeks = 0

    results = list(iter_import_entries(fileobj, counts=counts, start_index=4))

    assert [(result.index, result.pointer) for result in results] == [(4, "/images/1")]
    assert fileobj.seeks == 2  # one for the raw-text screen, one for the single parse of both keys


def test_reading_starts_at_the_current_position():
    fileobj = io.BytesIO(b'GARBAGE{"text": [{"objectUrl": "s3://b/t.txt"}]}')
    fileobj.seek(7)

    assert [entry.urls for entry in iter_import_entries(fileobj)] == [("s3://b/t.txt",)]


def test_text_mode_files_are_refused():
    with pytest.raises(TypeError, match="binary mode"):
        scan_import_file(io.StringIO('{"text": []}'))


def _write_registration_file(path, *, images: int, videos: int, groups: int) -> None:
    """A file like a real registration with the media metadata supplied."""
    with open(path, "w") as out:
        out.write('{"images": [')
        out.write(",".join(
            f'{{"objectUrl": "https://host/img/{n:06d}.jpg", "title": "{n:06d}.jpg", '
            f'"imageMetadata": {{"mime_type": "image/jpeg", "file_size": {1000 + n}, '
            f'"width": 1920, "height": 1080}}, '
            f'"clientMetadata": {{"camera": "front", "n": {n}, "clip": [0.{n % 97}, 0.25, 0.5, 0.75]}}}}'
            for n in range(images)))
        out.write('], "videos": [')
        out.write(",".join(
            f'{{"objectUrl": "s3://bucket/cam/video{n}.mp4", "videoMetadata": {{"fps": 25, '
            f'"duration": 29.08, "width": 1280, "height": 720, "fileSize": 5468354}}, '
            f'"clientMetadata": {{"site": "Algiers", "$encord": {{"config": {{"sampling_rate": 0}}, '
            f'"frames": {{"0": {{"count": 3}}, "120": {{"count": 5}}}}}}}}}}'
            for n in range(videos)))
        out.write('], "image_groups": [')
        out.write(",".join(
            f'{{"createVideo": {"true" if n % 2 else "false"}, "objectUrl_0": "https://host/g{n}/0.jpg", '
            f'"objectUrl_1": "https://host/g{n}/1.jpg", "objectUrl_2": "https://host/g{n}/2.jpg"}}'
            for n in range(groups)))
        out.write('], "skip_duplicate_urls": true}')


def test_throughput_on_a_200k_entry_registration_file(tmp_path):
    path = tmp_path / "registration.json"
    _write_registration_file(path, images=120_000, videos=60_000, groups=20_000)

    started = time.perf_counter()
    with open(path, "rb") as fileobj:
        options, counts = scan_import_file(fileobj)
        scanned = time.perf_counter()
        fileobj.seek(0)
        kinds: dict[str, int] = {}
        for result in iter_import_entries(fileobj, counts=counts):
            kinds[result.kind] = kinds.get(result.kind, 0) + 1
    finished = time.perf_counter()
    print(
        f"\n200,000 entries, {path.stat().st_size / 2**20:.0f} MB ({IJSON_BACKEND}): "
        f"scan {200_000 / (scanned - started):,.0f} entries/s, "
        f"entry pass {200_000 / (finished - scanned):,.0f} entries/s, "
        f"both {200_000 / (finished - started):,.0f} entries/s"
    )

    assert options == ImportOptions(skip_duplicate_urls=True, upsert_metadata=False)
    assert counts == {"images": 120_000, "videos": 60_000, "image_groups": 20_000}
    assert kinds == {"image": 120_000, "video": 60_000, "image_group": 10_000, "image_sequence": 10_000}


def test_a_200k_entry_file_streams_with_bounded_memory(tmp_path):
    # Lean entries: tracemalloc slows every allocation about sevenfold, and what is measured here
    # is whether anything grows with the number of entries, not the size of one entry.
    path = tmp_path / "lean.json"
    entries = ",".join(f'{{"objectUrl": "s3://bucket/t/{n:06d}.txt"}}' for n in range(200_000))
    path.write_text(f'{{"text": [{entries}]}}')
    del entries

    tracemalloc.start()
    try:
        with open(path, "rb") as fileobj:
            counts = scan_import_file(fileobj)[1]
            fileobj.seek(0)
            last = None
            for last in iter_import_entries(fileobj, counts=counts):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\npeak traced memory, scan + entry pass over {path.stat().st_size / 2**20:.0f} MB: "
          f"{peak / 2**20:.1f} MB")

    assert counts == {"text": 200_000}
    assert last == ImportEntry(199_999, "/text/199999", "text", ("s3://bucket/t/199999.txt",),
                               "/t/199999.txt", {}, None, False)
    assert peak < 10 * 2**20  # holding the parsed file would take well over 100 MB


@pytest.mark.parametrize(("bad", "pointer"), [
    ("[" * 63 + "]" * 63, "/images/0/clientMetadata/k" + "/0" * 62),
    ('"a\\u0000b"', "/images/0/clientMetadata/k"),
    ('{"x\\u0000": 1}', "/images/0/clientMetadata/k"),
    ("1e400", "/images/0"),  # yajl overflows: the exact-number pass fails the entry as a whole
])
def test_an_unstorable_value_fails_its_entry_when_it_is_the_only_one_in_the_file(bad, pointer):
    """The per-value walk runs only for files whose raw text may hold such a value (the text screen):
    each kind alone must still be caught, the nesting too (it shows only in the brackets)."""
    text = ('{"images": [{"objectUrl": "s3://b/1.jpg", "clientMetadata": {"k": ' + bad + '}},'
            ' {"objectUrl": "s3://b/2.jpg", "clientMetadata": {"id": "123e4567-e89b-12d3-a456-426614174000"}}]}')

    results = list(iter_import_entries(io.BytesIO(text.encode())))

    assert [type(result).__name__ for result in results] == ["EntryError", "ImportEntry"]
    assert [problem.pointer for problem in results[0].problems] == [pointer]
