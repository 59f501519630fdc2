"""Which frames of a video are Explorer entries: key frames from ``$encord`` and sampled frames.

Pure functions (no database), shared by the metadata writers, the item page and the Explorer. What a
config or a frame key means is ``encord_rules``' (the same module that accepts or refuses them).
"""

from __future__ import annotations

import math

from apps.metadata.encord_rules import DEFAULT_SAMPLING_RATE, encord_config, frame_number  # noqa: F401 (re-exported)


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
    keyframes = metadata.get("keyframes")
    for key in keyframes if isinstance(keyframes, list) else []:
        if frame_number(key, mode="frame", fps=fps) is not None:
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
