"""Refusing replayed writes: a signed request that changed something cannot be sent again.

A v2 signature is valid for ``signatures.MAX_AGE_S`` (the SDK dates it; old SDKs 30 s in the past),
so within that window a captured request could be replayed. Reads are harmless to repeat; a write
(POST, PATCH, PUT, DELETE) that succeeded is remembered in Redis until its signature has expired,
and the same signature is then refused. Only *successful* writes are remembered because the SDK
itself re-sends the identical signed request after a 429/5xx (urllib3 retries), which must still work.
"""

from __future__ import annotations

import hashlib

from django.core.cache import cache

from apps.encord_compat import signatures

WINDOW_S = signatures.MAX_AGE_S + signatures.MAX_FUTURE_S
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _key(signature: str) -> str:
    return "encord-sig:" + hashlib.sha256(signature.strip().encode()).hexdigest()


def signature_used(signature: str) -> bool:
    return cache.get(_key(signature)) is not None


def signature_record(signature: str) -> None:
    cache.set(_key(signature), 1, timeout=WINDOW_S)
