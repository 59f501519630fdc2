"""probe_file on real files made by tests.media_factory: exact facts, and readable errors for bad files."""

from __future__ import annotations

import gzip
import random

import pydicom
import pypdf
import pytest

from apps.storage import probing
from apps.storage.probing import ProbeError, dicom_group_series, dicom_sort_key, probe_file
from tests.media_factory import (
    make_dicom_series,
    make_jpeg,
    make_mp3,
    make_mp4,
    make_nifti,
    make_pdf,
    make_png,
    make_text,
    make_video,
    make_wav,
)

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_A = "1.2.826.0.1.3680043.8.498.1.1"
SERIES_B = "1.2.826.0.1.3680043.8.498.1.2"


def _random_bytes(count: int) -> bytes:
    return random.Random(1234).randbytes(count)


def test_probe_jpeg_reports_size_format_and_mime(tmp_path):
    path = make_jpeg(tmp_path / "a.jpg", size=(64, 48))

    info = probe_file(path, kind="image")

    assert info == {
        "width": 64,
        "height": 48,
        "mime_type": "image/jpeg",
        "file_size": path.stat().st_size,
        "format": "JPEG",
    }


def test_probe_png_in_palette_and_16_bit_modes(tmp_path):
    palette = probe_file(make_png(tmp_path / "p.png", size=(40, 30), mode="P"), kind="image")
    deep = probe_file(make_png(tmp_path / "d.png", size=(33, 17), mode="I;16"), kind="image")

    assert (palette["width"], palette["height"], palette["format"], palette["mime_type"]) == (
        40, 30, "PNG", "image/png"
    )
    assert (deep["width"], deep["height"]) == (33, 17)


def test_probe_image_reports_displayed_size_for_rotated_exif(tmp_path):
    path = make_jpeg(tmp_path / "rotated.jpg", size=(64, 48), exif_orientation=6)

    info = probe_file(path, kind="image")

    assert (info["width"], info["height"]) == (48, 64)


def test_probe_truncated_jpeg_raises_with_pillow_reason(tmp_path):
    data = make_jpeg(tmp_path / "full.jpg", size=(320, 240)).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="image")

    assert caught.value.reason.startswith("Pillow cannot decode image cut.jpg: image file is truncated")


def test_probe_random_bytes_as_image_raises_cannot_identify(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(_random_bytes(2048))

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="image")

    assert caught.value.reason == "Pillow cannot identify image file: noise.png"


@pytest.mark.parametrize(
    ("kind", "decoder"),
    [
        ("image", "Pillow"),
        ("video", "PyAV (FFmpeg)"),
        ("audio", "PyAV (FFmpeg)"),
        ("pdf", "pypdf"),
        ("dicom", "pydicom"),
        ("nifti", "NIfTI header check"),
    ],
)
def test_probe_empty_file_raises_naming_the_decoder(tmp_path, kind, decoder):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind=kind)

    assert caught.value.reason == f"{decoder} cannot read empty.bin: the file is empty"


def test_probe_missing_file_raises_probe_error(tmp_path):
    with pytest.raises(ProbeError) as caught:
        probe_file(tmp_path / "gone.jpg", kind="image")

    assert caught.value.reason == "cannot read gone.jpg: No such file or directory"


def test_probe_unknown_kind_is_a_value_error(tmp_path):
    path = make_text(tmp_path / "a.txt", "x")

    with pytest.raises(ValueError, match="unknown media kind 'spreadsheet'"):
        probe_file(path, kind="spreadsheet")


def test_probe_mp4_reports_exact_stream_facts(tmp_path):
    path = make_mp4(tmp_path / "clip.mp4", frames=30, fps=10, size=(64, 48))

    info = probe_file(path, kind="video")

    assert info == {
        "width": 64,
        "height": 48,
        "fps": 10.0,
        "frame_count": 30,
        "duration": 3.0,
        "codec": "h264",
        "mime_type": "video/mp4",
        "file_size": path.stat().st_size,
    }


def test_probe_matroska_without_frame_count_computes_it_from_duration(tmp_path):
    path = make_video(tmp_path / "clip.mkv", frames=25, fps=5, size=(32, 16))

    info = probe_file(path, kind="video")

    assert (info["frame_count"], info["duration"], info["fps"]) == (25, 5.0, 5.0)
    assert (info["width"], info["height"], info["mime_type"]) == (32, 16, "video/x-matroska")


def test_probe_random_bytes_as_mp4_raises_with_ffmpeg_reason(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(_random_bytes(4096))

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="video")

    assert caught.value.reason == (
        "PyAV (FFmpeg) cannot open video noise.mp4: Invalid data found when processing input"
    )


def test_probe_mp4_cut_in_half_raises(tmp_path):
    data = make_mp4(tmp_path / "full.mp4").read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="video")

    assert caught.value.reason.startswith("PyAV (FFmpeg) cannot open video half.mp4")


def test_probe_audio_file_as_video_raises_no_video_stream(tmp_path):
    path = make_wav(tmp_path / "tone.wav")

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="video")

    assert caught.value.reason == "PyAV (FFmpeg) found no video stream in tone.wav (wav)"


def test_probe_wav_reports_pcm_facts(tmp_path):
    path = make_wav(tmp_path / "tone.wav", seconds=1.5, rate=8000, channels=2)

    info = probe_file(path, kind="audio")

    assert info == {
        "duration": 1.5,
        "sample_rate": 8000,
        "num_channels": 2,
        "codec": "pcm_s16le",
        "bit_depth": 16,
        "mime_type": "audio/wav",
        "file_size": path.stat().st_size,
    }


def test_probe_mp3_has_no_bit_depth(tmp_path):
    path = make_mp3(tmp_path / "tone.mp3", seconds=1.0, rate=8000, channels=1)

    info = probe_file(path, kind="audio")

    assert info == {
        "duration": 1.0,
        "sample_rate": 8000,
        "num_channels": 1,
        "codec": "mp3",
        "bit_depth": None,
        "mime_type": "audio/mpeg",
        "file_size": path.stat().st_size,
    }


def test_probe_pdf_counts_pages(tmp_path):
    path = make_pdf(tmp_path / "doc.pdf", pages=5)

    info = probe_file(path, kind="pdf")

    assert info == {"page_count": 5, "mime_type": "application/pdf", "file_size": path.stat().st_size}


def test_probe_pdf_cut_in_half_raises(tmp_path):
    data = make_pdf(tmp_path / "full.pdf", pages=4).read_bytes()
    path = tmp_path / "half.pdf"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="pdf")

    assert caught.value.reason == "pypdf: half.pdf is truncated (no %%EOF marker at the end)"


def test_probe_random_bytes_as_pdf_raises_with_pypdf_reason(tmp_path):
    path = tmp_path / "noise.pdf"
    path.write_bytes(_random_bytes(2048))

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="pdf")

    assert caught.value.reason.startswith("pypdf cannot read noise.pdf: ")


def test_probe_pdf_without_eof_marker_is_reported_truncated(tmp_path):
    data = make_pdf(tmp_path / "full.pdf", pages=2).read_bytes()
    path = tmp_path / "noeof.pdf"
    path.write_bytes(data.replace(b"%%EOF\n", b""))

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="pdf")

    assert caught.value.reason == "pypdf: noeof.pdf is truncated (no %%EOF marker at the end)"


def test_probe_pdf_with_user_password_raises_and_owner_only_is_read(tmp_path):
    source = pypdf.PdfReader(make_pdf(tmp_path / "plain.pdf", pages=3))
    for name, user_password in (("locked.pdf", "secret"), ("owner.pdf", "")):
        writer = pypdf.PdfWriter(clone_from=source)
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
        writer.write(tmp_path / name)

    with pytest.raises(ProbeError) as caught:
        probe_file(tmp_path / "locked.pdf", kind="pdf")

    assert caught.value.reason == "pypdf cannot read locked.pdf: it is encrypted with a password"
    assert probe_file(tmp_path / "owner.pdf", kind="pdf")["page_count"] == 3


def test_probe_utf8_text_counts_lines(tmp_path):
    path = make_text(tmp_path / "a.txt", "première ligne\nsecond\nthird without newline")

    info = probe_file(path, kind="text")

    assert info == {
        "file_size": path.stat().st_size,
        "encoding": "utf-8",
        "encoding_note": None,
        "line_count": 3,
        "mime_type": "text/plain",
    }


def test_probe_text_line_count_ignores_a_final_newline(tmp_path):
    ended = probe_file(make_text(tmp_path / "a.txt", "a\nb\n"), kind="text")
    unended = probe_file(make_text(tmp_path / "b.txt", "a\nb"), kind="text")
    empty = probe_file(make_text(tmp_path / "c.txt", ""), kind="text")

    assert (ended["line_count"], unended["line_count"], empty["line_count"]) == (2, 2, 0)


def test_probe_text_with_boms(tmp_path):
    utf16 = probe_file(make_text(tmp_path / "a.txt", "x\ny\nz", encoding="utf-16"), kind="text")
    utf8_sig = probe_file(make_text(tmp_path / "b.txt", "x\ny\n", encoding="utf-8-sig"), kind="text")

    assert (utf16["encoding"], utf16["line_count"]) == ("utf-16", 3)
    assert (utf8_sig["encoding"], utf8_sig["line_count"]) == ("utf-8-sig", 2)


def test_probe_latin1_text_has_a_detection_note(tmp_path):
    path = make_text(tmp_path / "a.txt", "caf\u00e9\nna\u00efve\n", encoding="latin-1")

    info = probe_file(path, kind="text")

    assert (info["encoding"], info["line_count"]) == ("latin-1", 2)
    assert info["encoding_note"] == (
        "not valid UTF-8 (invalid continuation byte at byte 3); decoded as Latin-1"
    )


def test_probe_text_reads_in_chunks_across_multibyte_characters(tmp_path, monkeypatch):
    monkeypatch.setattr(probing, "TEXT_CHUNK_BYTES", 3)
    valid = make_text(tmp_path / "a.txt", "aé\nbé\nc€\n")  # é and € straddle 3-byte chunk edges
    invalid = tmp_path / "b.txt"
    invalid.write_bytes("aé\nbé\n".encode() + b"\xff\n")

    valid_info = probe_file(valid, kind="text")
    invalid_info = probe_file(invalid, kind="text")

    assert (valid_info["encoding"], valid_info["line_count"]) == ("utf-8", 3)
    assert (invalid_info["encoding"], invalid_info["line_count"]) == ("latin-1", 3)
    assert invalid_info["encoding_note"] == (
        "not valid UTF-8 (invalid start byte at byte 8); decoded as Latin-1"
    )


def test_probe_binary_file_as_text_raises(tmp_path):
    path = make_jpeg(tmp_path / "photo.txt")

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="text")

    assert caught.value.reason == (
        "text decoder: photo.txt contains NUL bytes (binary, or UTF-16 without a BOM)"
    )


def test_probe_dicom_reports_identity_and_window(tmp_path):
    paths = make_dicom_series(tmp_path, slices=3, rows=32, cols=24, study_uid=STUDY_UID, series_uid=SERIES_A)

    info = probe_file(paths[1], kind="dicom")

    assert info == {
        "study_uid": STUDY_UID,
        "series_uid": SERIES_A,
        "instance_uid": pydicom.dcmread(paths[1]).SOPInstanceUID,
        "instance_number": 2,
        "rows": 32,
        "columns": 24,
        "modality": "CT",
        "patient_id": "LOUPE-TEST-1",
        "window_center": 40.0,
        "window_width": 400.0,
        "mime_type": "application/dicom",
        "file_size": paths[1].stat().st_size,
    }


def test_probe_dicom_series_uids_are_deterministic(tmp_path):
    first = [probe_file(p, kind="dicom")["instance_uid"] for p in make_dicom_series(tmp_path / "a")]
    second = [probe_file(p, kind="dicom")["instance_uid"] for p in make_dicom_series(tmp_path / "b")]

    assert first == second
    assert len(set(first)) == 3


def test_probe_non_dicom_file_raises(tmp_path):
    path = make_text(tmp_path / "notes.dcm", "just some notes\n")

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="dicom")

    assert caught.value.reason.startswith("pydicom: notes.dcm is not a DICOM file (")


def test_probe_truncated_dicom_reports_missing_pixel_bytes(tmp_path):
    data = make_dicom_series(tmp_path, slices=1)[0].read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[:-500])

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="dicom")

    assert caught.value.reason == "pydicom: cut.dcm is truncated (500 bytes of Pixel Data missing)"


def test_probe_dicom_without_preamble_is_read(tmp_path):
    source = make_dicom_series(tmp_path, slices=1, series_uid=SERIES_A)[0]
    dataset = pydicom.dcmread(source)
    del dataset.file_meta
    dataset.preamble = None
    path = tmp_path / "bare.dcm"
    dataset.save_as(path, enforce_file_format=False, implicit_vr=True, little_endian=True)

    info = probe_file(path, kind="dicom")

    assert (info["series_uid"], info["instance_number"], info["rows"]) == (SERIES_A, 1, 32)


def test_dicom_group_series_groups_and_orders_by_instance_number(tmp_path):
    series_a = make_dicom_series(tmp_path / "a", slices=3, study_uid=STUDY_UID, series_uid=SERIES_A)
    series_b = make_dicom_series(tmp_path / "b", slices=2, study_uid=STUDY_UID, series_uid=SERIES_B)
    shuffled = [series_a[2], series_b[1], series_a[0], series_b[0], series_a[1]]

    groups = dicom_group_series([probe_file(p, kind="dicom") for p in shuffled])

    assert list(groups) == [SERIES_A, SERIES_B]
    assert [info["instance_number"] for info in groups[SERIES_A]] == [1, 2, 3]
    assert [info["instance_number"] for info in groups[SERIES_B]] == [1, 2]


def test_dicom_sort_key_puts_missing_instance_numbers_last_by_uid():
    infos = [
        {"instance_number": None, "instance_uid": "1.9"},
        {"instance_number": 2, "instance_uid": "1.2"},
        {"instance_number": None, "instance_uid": "1.3"},
        {"instance_number": 1, "instance_uid": "1.8"},
    ]

    ordered = sorted(infos, key=dicom_sort_key)

    assert [info["instance_uid"] for info in ordered] == ["1.8", "1.2", "1.3", "1.9"]


def test_probe_nifti_reports_size_and_mime(tmp_path):
    plain = make_nifti(tmp_path / "brain.nii")
    packed = tmp_path / "brain.nii.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))

    assert probe_file(plain, kind="nifti") == {
        "file_size": plain.stat().st_size, "mime_type": "application/x-nifti"
    }
    assert probe_file(packed, kind="nifti") == {
        "file_size": packed.stat().st_size, "mime_type": "application/gzip"
    }


def test_probe_nifti_without_magic_raises(tmp_path):
    path = tmp_path / "fake.nii"
    path.write_bytes(_random_bytes(400))

    with pytest.raises(ProbeError) as caught:
        probe_file(path, kind="nifti")

    assert caught.value.reason == "NIfTI header check: fake.nii has no NIfTI-1 or NIfTI-2 magic"
