"""Garbage-collector settings for batch work (metadata jobs, bulk requests).

Batch work keeps thousands of objects alive at once (a job's 5,000-row chunk, a bulk request's
1,000 parsed objects), so they survive the young collections and pile up in the oldest generation;
every few chunks or requests that triggers a full collection, which scans every object of the
process (Django, Celery, their caches): 30-100 ms each. ``heap_frozen`` moves the objects that exist
when the work starts out of the collector's sight for its duration (``gc.freeze``), so a full
collection only scans what the work itself allocated. Reference counting frees everything as
usual; only cycle detection skips the frozen objects, and they are unfrozen afterwards. Freezing
and unfreezing are constant-time; overlapping uses in threads only lose some of the benefit.
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
