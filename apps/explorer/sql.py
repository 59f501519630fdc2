"""``Sql``: a Django expression holding one SQL fragment over columns of the item row.

The compiler writes its predicates and sort values as SQL it controls (containment, ``jsonb_typeof``
guards, casts: STYLE rule 5) while Django still resolves the columns, so the fragments compose with
``Q``, ``annotate`` and ``order_by`` and keep working whatever aliases the query gives the item table.
"""

from __future__ import annotations

from django.db.models import BooleanField, Expression, F


class Sql(Expression):
    """``template`` with ``{name}`` for each column in ``columns`` (alias -> Item field) and ``%s`` for
    each of ``params``. A boolean fragment must never evaluate to NULL (the compiler's predicates are
    guarded so), or ``NOT`` would not negate it."""

    def __init__(self, template: str, params=(), *, columns=None, output_field=None):
        super().__init__(output_field=output_field or BooleanField())
        self.template = template
        self.params = tuple(params)
        self.columns = {alias: F(field) for alias, field in (columns or {"m": "client_metadata"}).items()}

    def __repr__(self) -> str:
        return f"Sql({self.template!r}, {self.params!r})"

    def get_source_expressions(self):
        return list(self.columns.values())

    def set_source_expressions(self, exprs):
        self.columns = dict(zip(self.columns, exprs))

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        resolved = self.copy()
        resolved.is_summary = summarize
        resolved.columns = {alias: column.resolve_expression(query, allow_joins, reuse, summarize, for_save)
                            for alias, column in self.columns.items()}
        return resolved

    def as_sql(self, compiler, connection):
        names = {}
        for alias, column in self.columns.items():
            sql, params = compiler.compile(column)
            if params:  # a plain column never has any; the template's params are positional
                raise ValueError("Sql columns must compile without parameters")
            names[alias] = sql
        return "(" + self.template.format(**names) + ")", list(self.params)
