"""Bulk writes without PostgreSQL's per-row foreign-key checks, when the referenced rows are held.

A foreign key is checked by a queued trigger per inserted row, run at commit. For the bulk paths
(import batches' key-frame and embedding rows, metadata history rows) that check cost as much as the
insert itself (~20 us a row). Those paths reference only rows that cannot disappear before commit:
rows this transaction inserted or locked ``FOR UPDATE``, or rows the caller locks ``FOR KEY SHARE``
(the very lock each per-row check would take). Then the checks prove nothing, and a caller may skip
them with ``session_replication_role = replica`` for the duration of its statements.

The constraints stay in the database for every other writer. Skipping needs the right to set
``session_replication_role`` (a superuser, as the embedded server's role is, or a role granted
``SET`` on it); without it, when a caller further up already changed it, or when the caller could
not lock what it references, the rows are checked as usual.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection


def _may_set_replication_role(cursor) -> bool:
    """Whether this connection's role may change ``session_replication_role`` (asked once per connection)."""
    raw = connection.connection
    if not hasattr(raw, "_loupe_may_set_replication_role"):
        cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
        raw._loupe_may_set_replication_role = cursor.fetchone()[0]
    return raw._loupe_may_set_replication_role


def rows_locked_for_key_share(cursor, *, table: str, column: str, pks) -> bool:
    """Lock the referenced rows ``FOR KEY SHARE``; False when one of them is already gone."""
    wanted = list(dict.fromkeys(pk for pk in pks if pk is not None))
    if not wanted:
        return True
    cursor.execute(f"SELECT 1 FROM {table} WHERE {column} = ANY(%s) FOR KEY SHARE", [wanted])
    return len(cursor.fetchall()) == len(wanted)


@contextmanager
def foreign_key_checks_skipped(cursor, *, references_held: bool):
    """Run the enclosed statements without per-row foreign-key triggers, if ``references_held`` and allowed.

    Must run inside a transaction (``SET LOCAL``). There is deliberately no ``finally``: after an error
    the transaction is aborted, a ``SET`` would fail and hide the error, and the rollback of the
    enclosing atomic block undoes the ``SET LOCAL`` with everything else.
    """
    if not references_held or not _may_set_replication_role(cursor):
        yield
        return
    cursor.execute("SELECT current_setting('session_replication_role') = 'origin'")
    if not cursor.fetchone()[0]:
        yield
        return
    cursor.execute("SET LOCAL session_replication_role = replica")
    yield
    cursor.execute("SET LOCAL session_replication_role = origin")
