"""The one set of rules for ``$encord`` (video frames) and the legacy ``keyframes`` list.

Every door checks these through here: the metadata writers (REST, Encord routes, UI, jobs) by way of
``validation.validate_metadata``, and the import parser the same way, so a file entry and an API write
of the same metadata are accepted or refused alike, with the same message. Readers (``frames``, the
derived rows, the frame API) read the config with ``encord_config``, so what was accepted is read back
the same way. Pure Python, no database (``spec/metadata.md``, "Video frames").

Problems carry their place as a tuple of tokens from the metadata object's root
(``("$encord", "config", "sampling_rate")``); ``json_pointer`` turns it into an RFC 6901 pointer,
which stays exact when a key holds ``.`` or ``/``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

ENCORD_KEY = "$encord"
LEGACY_KEYFRAMES_KEY = "keyframes"
KEYFRAME_MODES = ("frame", "seconds")
DEFAULT_SAMPLING_RATE = 1.0  # samples per second when ``$encord.config`` does not say
DEFAULT_KEYFRAME_MODE = "frame"
RENDERED_VALUE_MAX = 60  # characters of a value quoted in an error message

# No leading zeros: "007" and "7" would name the same frame twice.
_FRAME_NUMBER = re.compile(r"0|[1-9][0-9]*")
_SECONDS = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")


@dataclass(frozen=True)
class RuleProblem:
    """One refused part of ``$encord`` or ``keyframes``: where (tokens), what was expected, the message."""

    path: tuple[str, ...]
    expected: str
    value: Any
    message: str


def render(value: Any) -> str:
    """A value as JSON for an error message, cut short so a 4,096-number list cannot flood a response."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= RENDERED_VALUE_MAX else text[: RENDERED_VALUE_MAX - 1] + "…"


def dotted(path: tuple[str, ...]) -> str:
    """The path as messages name keys: ``$encord.frames.120.clip``."""
    return ".".join(str(part) for part in path)


def json_pointer(path: tuple[str, ...]) -> str:
    """The path as an RFC 6901 JSON pointer relative to the metadata object (``""`` for the object)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def key_message(path: str, expected: str, got: str) -> str:
    return f'key "{path}": expected {expected}, got {got}'


def finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        return False


def _problem(problems: list, path: tuple, expected: str, value: Any, *, described: str = "", message: str = ""):
    message = message or key_message(dotted(path), described or expected, render(value))
    problems.append(RuleProblem(path, expected, value, message))


# --------------------------------------------------------------------------- checking


def sampling_rate_valid(rate: Any) -> bool:
    """A number of samples per second, 0 or more; quoted as Encord's docs show it (``"2"``) or not."""
    if isinstance(rate, str):
        return bool(_SECONDS.fullmatch(rate))
    return finite_number(rate) and rate >= 0


def frame_key_valid(key: Any, mode: str) -> bool:
    """A frame key: a frame number in ``frame`` mode, a non-negative number of seconds in ``seconds`` mode."""
    if isinstance(key, bool):
        return False
    if isinstance(key, int):
        return key >= 0
    if isinstance(key, float):
        return mode == "seconds" and math.isfinite(key) and key >= 0
    if isinstance(key, str):
        return bool((_FRAME_NUMBER if mode == "frame" else _SECONDS).fullmatch(key))
    return False


def keyframes_problems(value: Any) -> list[RuleProblem]:
    """The legacy ``keyframes`` key: a list of frame numbers."""
    if isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value):
        return []
    path = (LEGACY_KEYFRAMES_KEY,)
    return [RuleProblem(path, "list of frame numbers", value,
                        key_message(LEGACY_KEYFRAMES_KEY, "a list of frame numbers", render(value)))]


def encord_problems(value: Any) -> list[RuleProblem]:
    """Everything wrong with an ``$encord`` value, schema aside (frames' own metadata is the schema's)."""
    problems: list[RuleProblem] = []
    path = (ENCORD_KEY,)
    if not isinstance(value, dict):
        _problem(problems, path, "object", value, described='an object with "config" and "frames"')
        return problems
    for unknown in (name for name in value if name not in ("config", "frames")):
        _problem(problems, (*path, unknown), "config or frames", value[unknown],
                 message=f'key "{ENCORD_KEY}.{unknown}": unknown; "$encord" holds only "config" and "frames"')
    mode = _config_problems(value["config"], problems) if "config" in value else DEFAULT_KEYFRAME_MODE
    if "frames" in value:
        _frames_problems(value["frames"], mode, problems)
    return problems


def _config_problems(config: Any, problems: list) -> str:
    """Check ``$encord.config``; return the key frame mode the frames are read with."""
    path = (ENCORD_KEY, "config")
    if not isinstance(config, dict):
        _problem(problems, path, "object", config, described="an object")
        return DEFAULT_KEYFRAME_MODE
    for unknown in (name for name in config if name not in ("sampling_rate", "keyframe_mode")):
        _problem(problems, (*path, unknown), "sampling_rate or keyframe_mode", config[unknown],
                 message=f'key "{dotted(path)}.{unknown}": unknown; the config holds only "sampling_rate" and '
                 '"keyframe_mode"')
    rate = config.get("sampling_rate", DEFAULT_SAMPLING_RATE)
    if not sampling_rate_valid(rate):
        _problem(problems, (*path, "sampling_rate"), "number", rate,
                 described="a number of samples per second, 0 or more")
    mode = config.get("keyframe_mode", DEFAULT_KEYFRAME_MODE)
    if mode not in KEYFRAME_MODES:
        _problem(problems, (*path, "keyframe_mode"), "frame or seconds", mode, described='"frame" or "seconds"')
        return DEFAULT_KEYFRAME_MODE
    return mode


def _frames_problems(frames: Any, mode: str, problems: list) -> None:
    """``$encord.frames``: a list of frame keys, or frame key -> that frame's metadata object."""
    path = (ENCORD_KEY, "frames")
    what = "a frame number" if mode == "frame" else "a number of seconds"
    if isinstance(frames, list):
        for index, key in enumerate(frames):
            if not frame_key_valid(key, mode):
                _problem(problems, (*path, str(index)), what, key)
        return
    if not isinstance(frames, dict):
        _problem(problems, path, "object or list", frames, described="an object of frame metadata or a list of frames")
        return
    for key, frame_metadata in frames.items():
        frame_path = (*path, key)
        if not frame_key_valid(key, mode):
            _problem(problems, frame_path, what, key, message=f'key "{dotted(frame_path)}": expected {what} as the frame key')
        if not isinstance(frame_metadata, dict):
            _problem(problems, frame_path, "object", frame_metadata, described="an object (the frame's metadata)")


def frame_metadata_objects(value: Any) -> list[tuple[str, dict]]:
    """``(frame key, metadata object)`` of each frame of an ``$encord`` value that has one."""
    frames = value.get("frames") if isinstance(value, dict) else None
    if not isinstance(frames, dict):
        return []
    return [(key, frame_metadata) for key, frame_metadata in frames.items() if isinstance(frame_metadata, dict)]


# --------------------------------------------------------------------------- reading


def encord_config(metadata: Any) -> tuple[float, str]:
    """``(sampling_rate, keyframe_mode)`` of an item's metadata, with the spec's defaults.

    Reads what ``encord_problems`` accepts (a quoted rate included); a value it would refuse (only
    found in metadata written before these rules) reads as the default.
    """
    block = metadata.get(ENCORD_KEY) if isinstance(metadata, dict) else None
    config = block.get("config") if isinstance(block, dict) else None
    config = config if isinstance(config, dict) else {}
    rate = config.get("sampling_rate", DEFAULT_SAMPLING_RATE)
    rate = float(rate) if sampling_rate_valid(rate) else DEFAULT_SAMPLING_RATE
    mode = config.get("keyframe_mode", DEFAULT_KEYFRAME_MODE)
    return rate, mode if mode in KEYFRAME_MODES else DEFAULT_KEYFRAME_MODE


def frame_number(key: Any, *, mode: str, fps: float | None) -> int | None:
    """A frame key as a frame number; None for a key the rules refuse, or seconds without a known fps."""
    if not frame_key_valid(key, mode):
        return None
    if mode == "seconds":
        return None if not fps else int(round(float(key) * fps))
    return int(key)
