"""Previews written from real media files: exact sizes, the right frames and pixels, readable errors."""

from __future__ import annotations

import random

import numpy as np
import pydicom
import pytest
from PIL import Image

from apps.storage.previews import (
    POSTER_NAME,
    PreviewError,
    audio_waveform,
    dicom_slice_image,
    fit_within,
    image_thumbnail,
    pdf_first_page,
    text_snippet,
    video_frame_image,
    video_poster_and_strip,
)
from tests.media_factory import (
    frame_color,
    make_dicom_series,
    make_jpeg,
    make_mp3,
    make_mp4,
    make_pdf,
    make_png,
    make_text,
    make_video,
    make_wav,
)

# H.264 and JPEG round trips move a flat colour by a few levels; frames differ by at least 24.
COLOR_TOLERANCE = 6


def _close(actual, expected, tolerance=COLOR_TOLERANCE) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def _pixel(path, xy):
    with Image.open(path) as image:
        return image.getpixel(xy)


def _size(path):
    with Image.open(path) as image:
        return image.size


def test_fit_within_keeps_aspect_and_never_upscales():
    assert fit_within(width=64, height=48, max_edge=256) == (64, 48)
    assert fit_within(width=640, height=480, max_edge=256) == (256, 192)
    assert fit_within(width=480, height=640, max_edge=256) == (192, 256)
    assert fit_within(width=1000, height=3, max_edge=256) == (256, 1)
    assert fit_within(width=300, height=199, max_edge=100) == (100, 66)
    assert fit_within(width=300, height=201, max_edge=100) == (100, 67)


def test_image_thumbnail_scales_jpeg_to_max_edge(tmp_path):
    source = make_jpeg(tmp_path / "big.jpg", size=(640, 480), color=(10, 200, 30))
    dest = tmp_path / "thumbs" / "big.jpg"

    size = image_thumbnail(source=source, dest=dest)

    assert size == (256, 192)
    assert _size(dest) == (256, 192)
    assert _close(_pixel(dest, (128, 96)), (10, 200, 30))


def test_image_thumbnail_keeps_small_images_at_their_size(tmp_path):
    source = make_png(tmp_path / "small.png", size=(64, 48))

    assert image_thumbnail(source=source, dest=tmp_path / "t.png", max_edge=256) == (64, 48)


def test_image_thumbnail_applies_exif_orientation(tmp_path):
    # Left half red, right half blue; orientation 6 means "rotate 90 degrees clockwise to display",
    # which puts the stored left half on top.
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    pixels[:, :32] = (220, 0, 0)
    pixels[:, 32:] = (0, 0, 220)
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(source, quality=95, exif=exif.tobytes())
    dest = tmp_path / "t.png"

    size = image_thumbnail(source=source, dest=dest, max_edge=32)

    assert size == (24, 32)
    assert _close(_pixel(dest, (12, 4)), (220, 0, 0), tolerance=12)
    assert _close(_pixel(dest, (12, 28)), (0, 0, 220), tolerance=12)


def test_image_thumbnail_keeps_palette_transparency_in_png(tmp_path):
    source = make_png(tmp_path / "palette.png", size=(64, 48), mode="P")
    dest = tmp_path / "t.png"

    assert image_thumbnail(source=source, dest=dest, max_edge=64) == (64, 48)

    with Image.open(dest) as thumb:
        assert thumb.mode == "RGBA"
        assert thumb.getpixel((0, 0))[3] == 0
        assert thumb.getpixel((63, 0)) == (255, 0, 128, 255)


def test_image_thumbnail_flattens_alpha_on_white_for_jpeg(tmp_path):
    source = make_png(tmp_path / "clear.png", size=(40, 40), color=(0, 0, 0, 0), mode="RGBA")
    dest = tmp_path / "t.jpg"

    image_thumbnail(source=source, dest=dest)

    assert _close(_pixel(dest, (20, 20)), (255, 255, 255), tolerance=2)


def test_image_thumbnail_stretches_16_bit_grayscale(tmp_path):
    source = make_png(tmp_path / "deep.png", size=(64, 48), mode="I;16")
    dest = tmp_path / "t.png"

    image_thumbnail(source=source, dest=dest, max_edge=64)

    with Image.open(dest) as thumb:
        assert thumb.mode == "L"
        assert (thumb.getpixel((0, 10)), thumb.getpixel((63, 10))) == (0, 255)


def test_image_thumbnail_converts_cmyk_to_rgb(tmp_path):
    source = make_jpeg(tmp_path / "print.jpg", size=(64, 48), color=(0, 255, 255, 0), mode="CMYK")
    dest = tmp_path / "t.webp"

    assert image_thumbnail(source=source, dest=dest, max_edge=32) == (32, 24)

    with Image.open(dest) as thumb:
        assert thumb.format == "WEBP"
        assert _close(thumb.convert("RGB").getpixel((16, 12)), (255, 0, 0))


def test_image_thumbnail_of_truncated_jpeg_raises(tmp_path):
    data = make_jpeg(tmp_path / "full.jpg", size=(320, 240)).read_bytes()
    source = tmp_path / "cut.jpg"
    source.write_bytes(data[: len(data) // 2])
    dest = tmp_path / "t.jpg"

    with pytest.raises(PreviewError) as caught:
        image_thumbnail(source=source, dest=dest)

    assert caught.value.reason.startswith("Pillow cannot decode image cut.jpg: image file is truncated")
    assert not dest.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cut.jpg", "full.jpg"]


def test_image_thumbnail_rejects_unknown_suffix(tmp_path):
    source = make_png(tmp_path / "a.png")

    with pytest.raises(ValueError, match="unsupported preview suffix '.gif'"):
        image_thumbnail(source=source, dest=tmp_path / "t.gif")


def test_video_strip_takes_the_middle_frame_of_each_part(tmp_path):
    source = make_mp4(tmp_path / "clip.mp4", frames=30, fps=10)

    strip = video_poster_and_strip(source=source, dest_dir=tmp_path / "strip", count=8)

    assert [entry["frame"] for entry in strip] == [1, 5, 9, 13, 16, 20, 24, 28]
    assert [entry["time"] for entry in strip] == [0.1, 0.5, 0.9, 1.3, 1.6, 2.0, 2.4, 2.8]
    assert [entry["path"].name for entry in strip] == [
        f"frame_{n:06d}.jpg" for n in (1, 5, 9, 13, 16, 20, 24, 28)
    ]
    for entry in strip:
        assert _size(entry["path"]) == (64, 48)
        assert _close(_pixel(entry["path"], (32, 24)), frame_color(entry["frame"]))
    assert _close(_pixel(tmp_path / "strip" / POSTER_NAME, (32, 24)), frame_color(3))


def test_video_strip_finds_exact_frames_across_keyframes(tmp_path):
    # 300 frames with a keyframe every 10: every strip frame needs a seek then decoding forward.
    source = make_video(tmp_path / "long.mp4", frames=300, fps=25, size=(96, 64), keyframe_interval=10)

    strip = video_poster_and_strip(source=source, dest_dir=tmp_path / "strip", count=6, max_edge=48)

    assert [entry["frame"] for entry in strip] == [25, 75, 125, 175, 225, 275]
    for entry in strip:
        assert _size(entry["path"]) == (48, 32)
        assert _close(_pixel(entry["path"], (24, 16)), frame_color(entry["frame"]))


def test_video_strip_of_short_video_gives_every_frame(tmp_path):
    source = make_mp4(tmp_path / "short.mp4", frames=5, fps=10)

    strip = video_poster_and_strip(source=source, dest_dir=tmp_path / "strip", count=8)

    assert [entry["frame"] for entry in strip] == [0, 1, 2, 3, 4]
    assert (tmp_path / "strip" / POSTER_NAME).exists()


def test_video_frame_image_returns_the_requested_frame(tmp_path):
    source = make_mp4(tmp_path / "clip.mp4", frames=30, fps=10)

    results = [
        video_frame_image(source=source, frame=number, dest=tmp_path / f"f{number}.png")
        for number in (0, 17, 29)
    ]

    assert [(r["frame"], r["time"], r["path"].name) for r in results] == [
        (0, 0.0, "f0.png"), (17, 1.7, "f17.png"), (29, 2.9, "f29.png")
    ]
    for result in results:
        assert _size(result["path"]) == (64, 48)
        assert _close(_pixel(result["path"], (32, 24)), frame_color(result["frame"]))


def test_video_frame_image_outside_the_video_raises(tmp_path):
    source = make_mp4(tmp_path / "clip.mp4", frames=30, fps=10)

    with pytest.raises(PreviewError) as caught:
        video_frame_image(source=source, frame=30, dest=tmp_path / "f.png")

    assert caught.value.reason == "frame 30 is outside this video's frames 0..29"


def test_video_preview_of_random_bytes_raises(tmp_path):
    source = tmp_path / "noise.mp4"
    source.write_bytes(random.Random(7).randbytes(4096))

    with pytest.raises(PreviewError) as caught:
        video_poster_and_strip(source=source, dest_dir=tmp_path / "strip")

    assert caught.value.reason == (
        "PyAV (FFmpeg) cannot open video noise.mp4: Invalid data found when processing input"
    )
    assert not (tmp_path / "strip").exists()


def test_pdf_first_page_renders_long_edge_exactly(tmp_path):
    landscape = make_pdf(tmp_path / "wide.pdf", pages=2, size=(200, 100))
    portrait = make_pdf(tmp_path / "tall.pdf", pages=1, size=(612, 792))

    wide = pdf_first_page(source=landscape, dest=tmp_path / "wide.png")
    tall = pdf_first_page(source=portrait, dest=tmp_path / "tall.png")
    small = pdf_first_page(source=landscape, dest=tmp_path / "small.png", max_edge=64)

    assert (wide, tall, small) == ((256, 128), (198, 256), (64, 32))
    assert (_size(tmp_path / "wide.png"), _size(tmp_path / "tall.png")) == ((256, 128), (198, 256))
    # The page's left half is a black rectangle, the right half blank paper.
    assert _pixel(tmp_path / "wide.png", (10, 64)) == (0, 0, 0)
    assert _pixel(tmp_path / "wide.png", (250, 64)) == (255, 255, 255)


def test_pdf_first_page_of_half_a_pdf_raises(tmp_path):
    data = make_pdf(tmp_path / "full.pdf", pages=4).read_bytes()
    source = tmp_path / "half.pdf"
    source.write_bytes(data[: len(data) // 2])

    with pytest.raises(PreviewError) as caught:
        pdf_first_page(source=source, dest=tmp_path / "p.png")

    assert caught.value.reason.startswith("pypdfium2 cannot open half.pdf: Failed to load document")


def _slice_row(path):
    with Image.open(path) as image:
        assert image.mode == "L"
        return np.asarray(image)[5]


def test_dicom_slice_uses_the_files_window(tmp_path):
    source = make_dicom_series(tmp_path / "ct", slices=1, rows=32, cols=32)[0]
    dest = tmp_path / "slice.png"

    result = dicom_slice_image(source=source, dest=dest)

    assert result == {"width": 32, "height": 32, "window_center": 40.0, "window_width": 400.0}
    row = _slice_row(dest)
    # Column 16 stores 1042 -> 18 HU; ((18 - 39.5) / 399 + 0.5) * 255 = 113.76.
    assert (row[0], row[16], row[31]) == (0, 114, 255)


def test_dicom_slice_window_arguments_override_the_tags(tmp_path):
    source = make_dicom_series(tmp_path / "ct", slices=1)[0]
    dest = tmp_path / "slice.png"

    result = dicom_slice_image(source=source, dest=dest, window_center=0, window_width=4000)

    assert (result["window_center"], result["window_width"]) == (0.0, 4000.0)
    row = _slice_row(dest)
    # -1014 HU -> 62.87, 18 HU -> 128.68, 986 HU -> 190.41.
    assert (row[0], row[16], row[31]) == (63, 129, 190)


def test_dicom_slice_without_window_tags_spans_min_to_max(tmp_path):
    dataset = pydicom.dcmread(make_dicom_series(tmp_path / "ct", slices=1)[0])
    del dataset.WindowCenter
    del dataset.WindowWidth
    dataset.PhotometricInterpretation = "MONOCHROME1"
    source = tmp_path / "nowindow.dcm"
    dataset.save_as(source, enforce_file_format=True)
    dest = tmp_path / "slice.png"

    result = dicom_slice_image(source=source, dest=dest, max_edge=16)

    assert result == {"width": 16, "height": 16, "window_center": -13.5, "window_width": 2001.0}
    with Image.open(dest) as image:
        assert image.size == (16, 16)
    full = tmp_path / "full.png"
    dicom_slice_image(source=source, dest=full)
    row = _slice_row(full)
    assert (row[0], row[31]) == (255, 0)  # MONOCHROME1: the lowest value is white


def test_dicom_slice_of_multi_frame_file_shows_the_first_frame(tmp_path):
    dataset = pydicom.dcmread(make_dicom_series(tmp_path / "ct", slices=1, rows=32, cols=32)[0])
    first = np.full((32, 32), 1064, dtype=np.int16)  # 40 HU, the window centre -> 128
    second = np.full((32, 32), 0, dtype=np.int16)
    dataset.NumberOfFrames = 2
    dataset.PixelData = np.stack([first, second]).tobytes()
    source = tmp_path / "multi.dcm"
    dataset.save_as(source, enforce_file_format=True)
    dest = tmp_path / "slice.png"

    dicom_slice_image(source=source, dest=dest)

    assert set(_slice_row(dest).tolist()) == {128}


def test_dicom_slice_of_non_dicom_file_raises(tmp_path):
    source = make_text(tmp_path / "notes.dcm", "not an image\n")

    with pytest.raises(PreviewError) as caught:
        dicom_slice_image(source=source, dest=tmp_path / "s.png")

    assert caught.value.reason.startswith("pydicom: notes.dcm is not a DICOM file (")


def test_audio_waveform_returns_one_peak_per_column(tmp_path):
    source = make_wav(tmp_path / "tone.wav", seconds=1.0, rate=8000)
    dest = tmp_path / "wave.png"

    peaks = audio_waveform(source=source, dest_png=dest, width=10, height=120)

    assert peaks == [0.5] * 10
    with Image.open(dest) as image:
        assert (image.size, image.mode) == ((10, 120), "RGBA")
        # A 0.5 peak covers the middle half: rows 30..89.
        alpha = [image.getpixel((4, row))[3] for row in (29, 30, 89, 90)]
    assert alpha == [0, 255, 255, 0]


def test_audio_waveform_default_width_and_stereo_mixdown(tmp_path):
    source = make_wav(
        tmp_path / "stereo.wav", seconds=2.0, rate=8000, channels=2, channel_amplitudes=(0.8, 0.0)
    )

    peaks = audio_waveform(source=source, dest_png=tmp_path / "wave.png")

    assert len(peaks) == 800
    assert max(peaks) == 0.4
    assert min(peaks) >= 0.39


def test_audio_waveform_of_silence_is_flat(tmp_path):
    source = make_wav(tmp_path / "quiet.wav", channel_amplitudes=(0.0,))
    dest = tmp_path / "wave.png"

    peaks = audio_waveform(source=source, dest_png=dest, width=20, height=10)

    assert peaks == [0.0] * 20
    with Image.open(dest) as image:
        alpha = [image.getpixel((3, row))[3] for row in (3, 4, 5, 6)]
    assert alpha == [0, 255, 255, 0]


def test_audio_waveform_decodes_mp3(tmp_path):
    source = make_mp3(tmp_path / "tone.mp3", seconds=1.0, rate=8000)

    peaks = audio_waveform(source=source, dest_png=tmp_path / "wave.png", width=16)

    assert len(peaks) == 16
    assert all(0.4 < peak <= 0.6 for peak in peaks)


def test_audio_waveform_of_random_bytes_raises(tmp_path):
    source = tmp_path / "noise.wav"
    source.write_bytes(random.Random(3).randbytes(2048))

    with pytest.raises(PreviewError) as caught:
        audio_waveform(source=source, dest_png=tmp_path / "wave.png")

    assert caught.value.reason.startswith("PyAV (FFmpeg) cannot open audio noise.wav")


def test_text_snippet_cuts_at_max_chars(tmp_path):
    source = make_text(tmp_path / "a.txt", "héllo wörld\nsecond line\n")

    assert text_snippet(source=source, max_chars=4) == "héll"
    assert text_snippet(source=source) == "héllo wörld\nsecond line\n"


def test_text_snippet_decodes_boms_and_latin1(tmp_path):
    utf16 = make_text(tmp_path / "a.txt", "grüße\nzwei", encoding="utf-16")
    latin1 = make_text(tmp_path / "b.txt", "café crème", encoding="latin-1")

    assert text_snippet(source=utf16) == "grüße\nzwei"
    assert text_snippet(source=latin1, max_chars=6) == "café c"


def test_text_snippet_of_long_file_reads_only_the_start(tmp_path):
    source = make_text(tmp_path / "big.txt", "€" * 100_000)

    assert text_snippet(source=source, max_chars=2000) == "€" * 2000


def test_text_snippet_of_binary_file_raises(tmp_path):
    source = make_jpeg(tmp_path / "photo.txt")

    with pytest.raises(PreviewError) as caught:
        text_snippet(source=source)

    assert caught.value.reason == "text decoder: file contains NUL bytes (binary, or UTF-16 without a BOM)"
