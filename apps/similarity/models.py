"""The similarity app's tables (each area in its own module)."""

from apps.similarity.models_duplicates import (  # noqa: F401
    DuplicateGroup, DuplicateMember, DuplicateMethod, DuplicateScan, FrameHash,
)
