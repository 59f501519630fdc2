"""Which frames of a video are Explorer entries: key frames from ``$encord`` and sampled frames.

Pure functions (no database), shared by the metadata writers, the item page and the Explorer.
"""

from __future__ import annotations

import math

DEFAULT_SAMPLING_RATE = 1.0  # samples per second when ``$encord.config`` does not say


def encord_config(metadata: dict) -> tuple[float, str]:
    """``(sampling_rate, keyframe_mode)`` of an item's metadata, with the spec's defaults."""
    block = metadata.get("$encord") if isinstance(metadata, dict) else None
    config = (block or {}).get("config") or {}
    rate = float(config.get("sampling_rate", DEFAULT_SAMPLING_RATE))
    return rate, config.get("keyframe_mode", "frame")


def frame_number(key, *, mode: str, fps: float | None) -> int | None:
    """A ``$encord.frames`` key as a frame number; seconds need the fps (None when it is unknown)."""
    if mode == "seconds":
        return None if not fps else int(round(float(key) * fps))
    return int(key)


def key_frames(metadata: dict, *, fps: float | None) -> dict[int, dict]:
    """Key frame number → that frame's own metadata, from ``$encord.frames`` and ``keyframes``."""
    if not isinstance(metadata, dict):
        return {}
    _, mode = encord_config(metadata)
    frames: dict[int, dict] = {}
    spec = (metadata.get("$encord") or {}).get("frames")
    if isinstance(spec, dict):
        for key, value in spec.items():
            number = frame_number(key, mode=mode, fps=fps)
            if number is not None:
                frames[number] = value if isinstance(value, dict) else {}
    elif isinstance(spec, list):
        for key in spec:
            number = frame_number(key, mode=mode, fps=fps)
            if number is not None:
                frames.setdefault(number, {})
    for key in metadata.get("keyframes") or []:
        frames.setdefault(int(key), {})
    return frames


def sampled_frames(*, rate: float, fps: float | None, frame_count: int | None) -> list[int]:
    """Frames sampled at ``rate`` per second; ``0`` (or an unknown fps/length) means the first frame."""
    if rate <= 0 or not fps or not frame_count:
        return [0]
    step = max(1, int(round(fps / rate)))
    return list(range(0, frame_count, step))


def explorer_frames(metadata: dict, *, fps: float | None, frame_count: int | None) -> list[tuple[int, bool]]:
    """Every frame entry of a video in order: ``(frame, is_key_frame)``."""
    rate, _ = encord_config(metadata)
    keys = key_frames(metadata, fps=fps)
    sampled = sampled_frames(rate=rate, fps=fps, frame_count=frame_count)
    return sorted({**{n: False for n in sampled}, **{n: True for n in keys}}.items())


def frame_time(frame: int, fps: float | None) -> float:
    return frame / fps if fps else 0.0


def is_finite_vector(values) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values)
