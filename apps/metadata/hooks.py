"""Where metadata tells the apps above it that a schema's indexes must change, without importing them.

The Explorer (above metadata) keeps per-key indexes on ``storage_item`` for the keys an organisation
declares (``apps.explorer.indexes``); metadata decides when keys are declared, re-typed, deleted and
bulk-loaded. Metadata calls the hooks here; the Explorer sets them in its ``AppConfig.ready`` with
``hook_set``. The defaults do nothing: metadata alone has no such indexes.

- ``key_indexes_changed(organisation_id)``: the organisation's wanted indexes may differ from the ones
  that exist (a key declared, re-typed, deleted or restored; a large load ended). Called only after the
  transaction that made the change commits (``key_indexes_changed_on_commit``), since the indexes are
  built with ``CREATE INDEX CONCURRENTLY``, which cannot run inside a transaction, and must not block
  the request: the Explorer answers by enqueuing a task.
- ``key_indexes_set_aside(organisation_id)``: a large load has counted its keys (``bulk_loads``); the
  indexes of keys being loaded must be gone before it writes. Called outside any transaction, and
  returns once they are dropped.
- ``embeddings_changed(organisation_id)``: item vectors of the organisation were written or removed
  (a metadata write, an import batch). Called after the transaction commits
  (``embeddings_changed_on_commit``); the similarity app answers by marking its 2-D projections stale
  and recomputing them in a task.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction


def _nothing(organisation_id) -> None:
    return None


_DEFAULTS: dict[str, Callable[..., Any]] = {
    "key_indexes_changed": _nothing,
    "key_indexes_set_aside": _nothing,
    "embeddings_changed": _nothing,
}
_registered: dict[str, Callable[..., Any]] = {}


def hook_set(name: str, function: Callable[..., Any]) -> None:
    """Install ``function`` as the hook ``name`` (one of the names above; a typo raises KeyError)."""
    if name not in _DEFAULTS:
        raise KeyError(f"metadata has no hook named {name!r}")
    _registered[name] = function


def _hook(name: str) -> Callable[..., Any]:
    return _registered.get(name, _DEFAULTS[name])


def key_indexes_changed_on_commit(organisation_id) -> None:
    """Tell the upper apps, once the current transaction commits (at once outside one), that the
    organisation's key indexes may need creating or dropping."""
    transaction.on_commit(lambda: _hook("key_indexes_changed")(organisation_id))


def key_indexes_set_aside(organisation_id) -> None:
    """Drop the indexes of the organisation's keys that a large load counted (outside a transaction)."""
    _hook("key_indexes_set_aside")(organisation_id)


def embeddings_changed_on_commit(organisation_id) -> None:
    """Tell the upper apps, once the current transaction commits, that the organisation's vectors changed."""
    transaction.on_commit(lambda: _hook("embeddings_changed")(organisation_id))
