"""render_image_sequence on real image files, checked by decoding the MP4 it writes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from apps.storage import sequences
from apps.storage.probing import ProbeError, probe_file
from apps.storage.sequences import MAX_SEQUENCE_IMAGES, SequenceError, render_image_sequence
from tests.media_factory import make_jpeg, make_png

COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200)]
# yuv420p plus H.264 move a flat colour by a few levels.
COLOR_TOLERANCE = 8


def _decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _close(actual, expected) -> bool:
    return all(abs(int(a) - e) <= COLOR_TOLERANCE for a, e in zip(actual, expected, strict=True))


def _pngs(directory: Path, count: int, size=(64, 48)) -> list[Path]:
    return [
        make_png(directory / f"img_{index:03d}.png", size=size, color=COLORS[index % len(COLORS)])
        for index in range(count)
    ]


def test_render_writes_one_h264_frame_per_image(tmp_path):
    sources = _pngs(tmp_path, 12)
    dest = tmp_path / "out" / "sequence.mp4"

    result = render_image_sequence(sources=sources, dest=dest, fps=10.0)

    assert result == {
        "width": 64, "height": 48, "fps": 10.0, "frame_count": 12, "duration": 1.2, "codec": "h264"
    }
    frames = _decoded_frames(dest)
    assert len(frames) == 12
    assert frames[0].shape == (48, 64, 3)
    for index, frame in enumerate(frames):
        assert _close(frame[24, 32], COLORS[index % len(COLORS)])


def test_render_output_probes_as_the_same_video(tmp_path):
    dest = tmp_path / "sequence.mp4"
    result = render_image_sequence(sources=_pngs(tmp_path, 7), dest=dest, fps=25.0)

    info = probe_file(dest, kind="video")

    assert (info["width"], info["height"], info["frame_count"], info["codec"]) == (64, 48, 7, "h264")
    assert (info["fps"], info["duration"]) == (25.0, 0.28)
    assert result["duration"] == 0.28


def test_render_keeps_fractional_frame_rates_exact(tmp_path):
    dest = tmp_path / "ntsc.mp4"

    result = render_image_sequence(sources=_pngs(tmp_path, 3), dest=dest, fps=30000 / 1001)

    assert result["fps"] == 30000 / 1001
    assert result["duration"] == 3 * 1001 / 30000
    assert len(_decoded_frames(dest)) == 3


def test_render_pads_odd_sizes_to_even_by_repeating_the_edge(tmp_path):
    pixels = np.zeros((47, 63, 3), dtype=np.uint8)
    pixels[:, -1] = (250, 250, 250)  # a white last column and row are repeated, not blackened
    pixels[-1, :] = (250, 250, 250)
    source = tmp_path / "odd.png"
    Image.fromarray(pixels).save(source)
    dest = tmp_path / "odd.mp4"

    result = render_image_sequence(sources=[source, source], dest=dest)

    assert (result["width"], result["height"]) == (64, 48)
    frame = _decoded_frames(dest)[0]
    assert frame.shape == (48, 64, 3)
    assert _close(frame[20, 63], (250, 250, 250))
    assert _close(frame[47, 20], (250, 250, 250))


def test_render_fits_images_of_another_size_inside_the_first(tmp_path):
    first = make_png(tmp_path / "a.png", size=(64, 48), color=(200, 30, 30))
    narrow = make_png(tmp_path / "b.png", size=(16, 48), color=(30, 30, 200))
    dest = tmp_path / "mixed.mp4"

    result = render_image_sequence(sources=[first, narrow], dest=dest)

    assert (result["width"], result["height"], result["frame_count"]) == (64, 48, 2)
    second = _decoded_frames(dest)[1]
    assert _close(second[24, 32], (30, 30, 200))  # the narrow image, centred
    assert _close(second[24, 4], (0, 0, 0))  # black on either side
    assert _close(second[24, 60], (0, 0, 0))


def test_render_uses_the_upright_size_of_an_exif_rotated_first_image(tmp_path):
    rotated = make_jpeg(tmp_path / "r.jpg", size=(64, 48), exif_orientation=6)

    result = render_image_sequence(sources=[rotated], dest=tmp_path / "r.mp4")

    assert (result["width"], result["height"]) == (48, 64)


def test_render_names_the_position_of_an_undecodable_image(tmp_path):
    sources = _pngs(tmp_path, 4)
    data = sources[2].read_bytes()
    sources[2].write_bytes(data[: len(data) // 2])
    dest = tmp_path / "sequence.mp4"
    dest.write_bytes(b"previous render")

    with pytest.raises(SequenceError) as caught:
        render_image_sequence(sources=sources, dest=dest)

    assert isinstance(caught.value, ProbeError)
    assert (caught.value.position, caught.value.path) == (2, sources[2])
    assert caught.value.reason.startswith("image at position 2 (img_002.png): Pillow cannot decode it: ")
    assert dest.read_bytes() == b"previous render"
    assert sorted(path.name for path in tmp_path.iterdir() if path.suffix != ".png") == ["sequence.mp4"]


def test_render_refuses_more_than_the_maximum_before_opening_files(tmp_path):
    missing = [tmp_path / f"{index}.png" for index in range(MAX_SEQUENCE_IMAGES + 1)]

    with pytest.raises(ValueError, match="at most 32767 images, got 32768"):
        render_image_sequence(sources=missing, dest=tmp_path / "too_long.mp4")

    assert MAX_SEQUENCE_IMAGES == 32_767
    assert not (tmp_path / "too_long.mp4").exists()


def test_render_refuses_empty_input_and_bad_frame_rates(tmp_path):
    sources = _pngs(tmp_path, 1)

    with pytest.raises(ValueError, match="at least one image"):
        render_image_sequence(sources=[], dest=tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="fps must be a positive number, got 0.0"):
        render_image_sequence(sources=sources, dest=tmp_path / "a.mp4", fps=0.0)
    with pytest.raises(ValueError, match="fps must be a positive number, got nan"):
        render_image_sequence(sources=sources, dest=tmp_path / "a.mp4", fps=float("nan"))


def test_render_falls_back_to_mpeg4_without_libx264(tmp_path, monkeypatch):
    monkeypatch.setattr(sequences, "_encoder_available", lambda name: False)
    dest = tmp_path / "fallback.mp4"

    result = render_image_sequence(sources=_pngs(tmp_path, 5), dest=dest, fps=5.0)

    assert result == {
        "width": 64, "height": 48, "fps": 5.0, "frame_count": 5, "duration": 1.0, "codec": "mpeg4"
    }
    assert probe_file(dest, kind="video")["codec"] == "mpeg4"
    assert len(_decoded_frames(dest)) == 5


def test_this_pyav_build_has_libx264():
    assert sequences.sequence_encoder() == "libx264"
