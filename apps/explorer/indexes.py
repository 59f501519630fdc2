"""The Explorer's indexes on ``storage_item``, per organisation, created and dropped by Loupe itself.

What an organisation that has declared at least one key gets (shared/spec/performance-notes.md,
"Explorer queries at 1M items", has the measurements behind each):

- per declared number, datetime, varchar, uuid or enum key: a btree over the very expression the
  compiler compares and sorts by (``NUMBER_VALUE``, ``INSTANT_VALUE``, ``STRING_VALUE``), partial on the
  organisation and on the value being of the key's kind, plus ``CREATE STATISTICS`` on the same
  expression: PostgreSQL keeps no statistics for partial expression indexes, and without them the
  planner misjudges compound filters by 10-100x (a 4-leaf compound at 1M items: 200-230 ms without,
  20-63 ms with). Booleans, text, geospatial and embedding keys get none (booleans are served by the
  GIN index below; embeddings by their HNSW index, ``apps.metadata.vector_indexes``);
- one GIN ``jsonb_path_ops`` index over ``client_metadata`` for the containment leaves (boolean and
  undeclared-key equality);
- one btree on ``(created_at, uuid)``: the default sort, which otherwise sorts every match;
- one btree on ``name text_pattern_ops``: a name prefix over the whole organisation (the folder's
  ``(folder, name)`` index serves one folder, and only under the C collation).

All are partial on ``organisation_id``, so each organisation's indexes hold only its items and are
named by it (``explorer_<org digest>_...``), which is how ``key_indexes_sync`` finds them again.

When: the schema services (``apps.metadata.services.schema``) call the hook ``key_indexes_changed``
after a change commits; ``apps.explorer.apps`` answers it by enqueuing ``key_indexes_sync_task``, which
makes the indexes match the schema with ``CREATE INDEX CONCURRENTLY``/``DROP INDEX CONCURRENTLY``
(these cannot run inside a transaction, and must not block the request that changed the schema nor
the writers meanwhile). Large loads (``apps.metadata.services.bulk_load``) count themselves on the
keys (``bulk_loads``); a key being loaded wants no btree, and no organisation-wide index is wanted
while any of its keys is being loaded: the hook ``key_indexes_set_aside`` runs the sync at once when
the load starts, and the hook ``key_indexes_changed`` rebuilds them when it ends. Meanwhile every query
still answers the same rows, by scans.

``key_indexes_sync`` is idempotent and takes only the organisation's id: a failed concurrent build
leaves an INVALID index, which the next sync drops and builds again; two syncs of one organisation
run one after the other (a session advisory lock).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

from django.db import connection

from apps.explorer.compiler import INSTANT_VALUE, NUMBER_VALUE, STRING_VALUE
from apps.metadata.models import KeyState, MetadataKey
from apps.metadata.validation import KeySpec

logger = logging.getLogger(__name__)

VALUE_OF_TYPE = {"number": NUMBER_VALUE, "datetime": INSTANT_VALUE, "varchar": STRING_VALUE,
                 "uuid": STRING_VALUE, "enum": STRING_VALUE}
TABLE = "storage_item"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _digest(text: str, size: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:size]


def key_value_sql(spec: KeySpec) -> str | None:
    """The compiler's value expression for ``spec`` with the key name as a literal (as queries send it)."""
    template = VALUE_OF_TYPE.get(spec.type)
    if template is None:
        return None
    return template.replace("{m}", "client_metadata").replace("%s", _literal(spec.name))


def organisation_index_prefix(organisation_id) -> str:
    return f"explorer_{_digest(str(organisation_id), 10)}_"


def key_index_name(*, organisation_id, spec: KeySpec) -> str:
    """The btree of one key; the name changes with the type, so a re-type builds the new one."""
    return organisation_index_prefix(organisation_id) + "k" + _digest(f"{spec.name}:{spec.type}", 16)


def key_statistics_name(*, organisation_id, spec: KeySpec) -> str:
    return key_index_name(organisation_id=organisation_id, spec=spec) + "_st"


def created_index_name(organisation_id) -> str:
    return organisation_index_prefix(organisation_id) + "created"


def name_index_name(organisation_id) -> str:
    return organisation_index_prefix(organisation_id) + "name"


def containment_index_name(organisation_id) -> str:
    return organisation_index_prefix(organisation_id) + "gin"


def key_index_statements(*, organisation_id, spec: KeySpec) -> list[str]:
    """The statements that index ``spec`` for its organisation: the btree, then its statistics (empty
    for types served otherwise)."""
    value = key_value_sql(spec)
    if value is None:
        return []
    name = key_index_name(organisation_id=organisation_id, spec=spec)
    return [
        f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} (({value})) "
        f"WHERE organisation_id = {_literal(str(organisation_id))} AND ({value}) IS NOT NULL",
        f"CREATE STATISTICS IF NOT EXISTS {key_statistics_name(organisation_id=organisation_id, spec=spec)} "
        f"ON ({value}) FROM {TABLE}",
    ]


def organisation_index_statements(organisation_id) -> dict[str, str]:
    """index name -> ``CREATE INDEX`` of the organisation-wide indexes (containment, created, name)."""
    where = f"WHERE organisation_id = {_literal(str(organisation_id))}"
    gin, created = containment_index_name(organisation_id), created_index_name(organisation_id)
    name = name_index_name(organisation_id)
    return {
        gin: f"CREATE INDEX IF NOT EXISTS {gin} ON {TABLE} USING gin (client_metadata jsonb_path_ops) {where}",
        created: f"CREATE INDEX IF NOT EXISTS {created} ON {TABLE} (created_at, uuid) {where}",
        name: f"CREATE INDEX IF NOT EXISTS {name} ON {TABLE} (name text_pattern_ops) {where}",
    }


@dataclass
class Wanted:
    indexes: dict[str, str] = field(default_factory=dict)  # name -> CREATE INDEX
    statistics: dict[str, str] = field(default_factory=dict)  # name -> CREATE STATISTICS


def key_indexes_wanted(organisation_id) -> Wanted:
    """The indexes and statistics the organisation's schema wants now (see the module docstring)."""
    wanted = Wanted()
    keys = list(MetadataKey.objects.filter(organisation_id=organisation_id, state=KeyState.ACTIVE))
    for key in keys:
        statements = key_index_statements(organisation_id=organisation_id, spec=key.spec())
        if not statements:
            continue
        index, statistics = statements
        if key.bulk_loads == 0:
            wanted.indexes[key_index_name(organisation_id=organisation_id, spec=key.spec())] = index
        # Statistics cost writes nothing: they stay during loads.
        wanted.statistics[key_statistics_name(organisation_id=organisation_id, spec=key.spec())] = statistics
    if keys and not any(key.bulk_loads for key in keys):
        wanted.indexes.update(organisation_index_statements(organisation_id))
    return wanted


@dataclass
class IndexSync:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _existing(prefix: str) -> tuple[dict[str, bool], set[str]]:
    pattern = prefix.replace("_", r"\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
                       "WHERE c.relname LIKE %s", [pattern])
        indexes = dict(cursor.fetchall())
        cursor.execute("SELECT stxname FROM pg_statistic_ext WHERE stxname LIKE %s", [pattern])
        statistics = {row[0] for row in cursor.fetchall()}
    return indexes, statistics


LOCK_RETRY_S = 0.1


def sync_lock_take(cursor, prefix: str) -> None:
    """Take the organisation's sync lock, trying rather than waiting: a ``CREATE INDEX CONCURRENTLY``
    of the sync holding it waits for every transaction older than itself to end, and a session blocked
    in ``pg_advisory_lock`` is such a transaction, waiting in turn for the lock: PostgreSQL then kills
    one of the two as a deadlock (seen with two syncs queued together on a two-process worker). Each
    try is a short transaction of its own, which the build waits for only until it ends."""
    while True:
        cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [prefix])
        if cursor.fetchone()[0]:
            return
        time.sleep(LOCK_RETRY_S)


def key_indexes_sync(*, organisation_id) -> IndexSync:
    """Make the organisation's Explorer indexes what ``key_indexes_wanted`` says, concurrently (never
    blocking writers), and analyse the table when anything was built. Must run outside a transaction."""
    if connection.in_atomic_block:
        raise RuntimeError("key_indexes_sync builds indexes concurrently: call it outside a transaction")
    started, done = time.perf_counter(), IndexSync()
    prefix = organisation_index_prefix(organisation_id)
    with connection.cursor() as cursor:
        sync_lock_take(cursor, prefix)
        try:
            wanted = key_indexes_wanted(organisation_id)
            indexes, statistics = _existing(prefix)
            for name, valid in sorted(indexes.items()):
                if name not in wanted.indexes or not valid:
                    cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                    done.dropped.append(name)
            for name in sorted(statistics - set(wanted.statistics)):
                cursor.execute(f"DROP STATISTICS IF EXISTS {name}")
                done.dropped.append(name)
            for name, sql in sorted(wanted.indexes.items()):
                if not indexes.get(name):
                    cursor.execute(sql.replace("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1))
                    done.created.append(name)
            for name, sql in sorted(wanted.statistics.items()):
                if name not in statistics:
                    cursor.execute(sql)
                    done.created.append(name)
            if done.created:
                cursor.execute(f"ANALYZE {TABLE}")
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [prefix])
    done.seconds = time.perf_counter() - started
    if done.created or done.dropped:
        logger.info("explorer indexes of organisation %s: built %s, dropped %s in %.1f s",
                    organisation_id, done.created, done.dropped, done.seconds)
    return done
