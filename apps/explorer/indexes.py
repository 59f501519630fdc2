"""The per-key typed indexes the compiler's leaves are written for (not created by anything yet).

A declared number, datetime, varchar, uuid or enum key gets a btree over the very expression the
compiler compares and sorts by (``NUMBER_VALUE``, ``INSTANT_VALUE``, ``STRING_VALUE``), partial on the
key's organisation and on the value being of the key's kind, plus ``CREATE STATISTICS`` on the same
expression: PostgreSQL keeps no statistics for partial expression indexes, and without them the
planner misjudges compound filters by 10-100x (``/work/shared/spec/performance-notes.md``: 200-230 ms
for a 4-leaf compound at 1M items without, 20-63 ms with).

Still to do (issue 10): create and drop them from the schema services as keys are declared, re-typed
and deleted (through a hook: metadata sits below explorer), and set them aside during large imports
as the embedding indexes are, so the import target holds (maintaining 6 such btrees during a 1M COPY
costs ~37 s; building them afterwards 9.4 s).
"""

from __future__ import annotations

import hashlib

from apps.explorer.compiler import INSTANT_VALUE, NUMBER_VALUE, STRING_VALUE
from apps.metadata.validation import KeySpec

VALUE_OF_TYPE = {"number": NUMBER_VALUE, "datetime": INSTANT_VALUE, "varchar": STRING_VALUE,
                 "uuid": STRING_VALUE, "enum": STRING_VALUE}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def key_value_sql(spec: KeySpec) -> str | None:
    """The compiler's value expression for ``spec`` with the key name as a literal (as queries send it)."""
    template = VALUE_OF_TYPE.get(spec.type)
    if template is None:
        return None
    return template.replace("{m}", "client_metadata").replace("%s", _literal(spec.name))


def key_index_name(*, organisation_id, spec: KeySpec) -> str:
    digest = hashlib.sha1(f"{organisation_id}:{spec.name}:{spec.type}".encode()).hexdigest()[:20]
    return f"explorer_key_{digest}"


def key_index_statements(*, organisation_id, spec: KeySpec) -> list[str]:
    """The statements that index ``spec`` for its organisation (empty for types served otherwise:
    booleans by containment, text, geospatial and embeddings)."""
    value = key_value_sql(spec)
    if value is None:
        return []
    name = key_index_name(organisation_id=organisation_id, spec=spec)
    return [
        f"CREATE INDEX IF NOT EXISTS {name} ON storage_item (({value})) "
        f"WHERE organisation_id = {_literal(str(organisation_id))} AND ({value}) IS NOT NULL",
        f"CREATE STATISTICS IF NOT EXISTS {name}_stats ON ({value}) FROM storage_item",
    ]
