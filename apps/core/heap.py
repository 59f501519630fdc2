"""Garbage-collector settings for long batch work (metadata jobs, imports).

A batch job keeps thousands of rows alive per transaction, so they survive the young collections and
pile up in the oldest generation; every few chunks that triggers a full collection, which scans
every object of the process (Django, Celery, the job's caches) and took ~100 ms each in a Celery
worker. ``heap_frozen`` moves the objects that exist when the job starts out of the collector's
sight for the duration (``gc.freeze``), so full collections only scan what the job itself keeps.
Reference counting still frees everything as usual; only cycle detection skips the frozen objects.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Run the block with today's objects frozen; they are unfrozen (collectable again) afterwards."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
