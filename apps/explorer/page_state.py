"""The Explorer page's query string and a saved view's state, one from the other.

Saving reads the page's state (``forms.explore_state``: the sidebar's filter tree, the written
expression, sort, layout, columns) into the keywords ``services_views.saved_view_create`` takes.
Opening writes a view's state back as the page's query string: the sidebar's leaves become its
controls again (``in:camera``, ``min:score``, ``has:site``, ``anykey``...), so the opened page shows
the filter in the controls that made it. A tree the sidebar cannot show (saved through the REST API
with ``or``/``not`` or operators the sidebar has no control for) opens as a written expression in the
advanced box instead (``expression.expression_from_tree``, which reads back as the same tree); only
what neither can show (a JSON null value, several sort keys) is refused with ``UnshownFilter``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from apps.explorer.expression import Unwritable, expression_from_tree
from apps.explorer.forms import DEFAULT_SORT, ExploreState, lasso_text
from apps.metadata.validation import KeySpec


class UnshownFilter(ValueError):
    """The view's filter has a part no control of the page shows."""


def view_state_from_page(state: ExploreState) -> dict:
    """``saved_view_create`` keywords for the page's ``state`` (scope, filter, q, sort, layout, columns)."""
    columns = [{target: name} for target, _, name in (column.partition(":") for column in state.columns)]
    return {"folder_pk": state.folder, "recursive": state.recursive, "filter": state.tree_json,
            "q": state.q if state.q.strip() else None, "sort": state.sort_json(), "layout": state.view,
            "columns": columns}


def page_query_from_view(view, specs: list[KeySpec]) -> str:
    """The page's query string showing ``view`` (raises ``UnshownFilter``)."""
    pairs = [("organisation", str(view.organisation_id))]
    if view.scope_folder_id:
        pairs.append(("folder", str(view.scope_folder_id)))
    if not view.recursive:
        pairs.append(("sub", "0"))
    q = view.q or ""
    try:
        pairs += _filter_pairs(view.filter, {spec.name: spec for spec in specs})
    except UnshownFilter:
        try:
            written = expression_from_tree(view.filter)
        except Unwritable as exc:
            raise UnshownFilter(f"This view's filter cannot be shown on the page ({exc}); open it with the "
                                "REST API (GET /api/v1/explore/views/<uuid>).") from exc
        q = f"({written}) and ({q})" if q.strip() else written
    if q:
        pairs.append(("q", q))
    pairs += _sort_pairs(view.sort)
    if view.layout != "grid":
        pairs.append(("view", view.layout))
    pairs += [("col", f"{target}:{name}") for column in view.columns or [] for target, name in column.items()]
    return urlencode(pairs)


def _sort_pairs(sort) -> list[tuple[str, str]]:
    if not sort:
        return []
    if len(sort) > 1:
        raise UnshownFilter("The page sorts by one key; this view sorts by several.")
    (target, name), = [(t, v) for t, v in sort[0].items() if t in ("key", "field")]
    pairs = [] if f"{target}:{name}" == DEFAULT_SORT else [("sort", f"{target}:{name}")]
    return pairs + ([] if sort[0].get("desc", False) else [("dir", "asc")])


def _filter_pairs(tree, specs: dict) -> list[tuple[str, str]]:
    if tree is None:
        return []
    leaves = tree["and"] if isinstance(tree, dict) and set(tree) == {"and"} else [tree]
    pairs, any_key = [], []
    for leaf in leaves:
        if isinstance(leaf, dict) and set(leaf) == {"projection"}:  # a lasso drawn on the map
            pairs.append((f"lasso:{leaf['projection']['key']}", lasso_text(leaf["projection"]["polygon"])))
            continue
        control = _control(leaf, specs)
        if control is None:
            any_key.append(_any_key(leaf))
        else:
            pairs += control
    if len(any_key) > 1:
        raise UnshownFilter("The page's \"Filter on any key\" control takes one key; this view filters on several.")
    return pairs + (any_key[0] if any_key else [])


def _control(leaf, specs: dict) -> list[tuple[str, str]] | None:
    """The sidebar controls of one leaf, or None when only the any-key control can show it."""
    if not isinstance(leaf, dict) or not ({"key", "field"} & set(leaf)):
        return None
    target = "field" if "field" in leaf else "key"
    name, op, value = leaf[target], leaf.get("op"), leaf.get("value")
    param = f"${name}" if target == "field" else name
    kind = {"type": "enum", "name": "varchar"}.get(name) if target == "field" else getattr(specs.get(name), "type", None)
    if kind is None:
        return None
    if op in ("exists", "missing") and target == "key":
        return [(f"has:{param}", "yes" if op == "exists" else "no")]
    if kind == "boolean" and op == "eq" and isinstance(value, bool):
        return [(f"is:{param}", "true" if value else "false")]
    if kind == "enum" and op == "in" and isinstance(value, list):
        return [(f"in:{param}", str(v)) for v in value]
    if kind in ("number", "datetime") and op in ("gte", "lte"):
        return [(f"{'min' if op == 'gte' else 'max'}:{param}", _text(value))]
    if kind in ("varchar", "uuid", "text") and op in ("contains", "prefix") and isinstance(value, str):
        return [(f"text:{param}", value)] + ([(f"match:{param}", "prefix")] if op == "prefix" else [])
    return None


def _any_key(leaf) -> list[tuple[str, str]]:
    """The any-key control's parameters for ``leaf`` (an ``or`` of one key's equalities included)."""
    if isinstance(leaf, dict) and set(leaf) == {"or"} and isinstance(leaf["or"], list) and leaf["or"]:
        first = leaf["or"][0]
        if all(isinstance(c, dict) and c.get("key") == first.get("key") and c.get("op") == "eq" for c in leaf["or"]):
            leaf = first
    if not isinstance(leaf, dict) or "key" not in leaf or leaf.get("op") not in ("exists", "missing", "eq", "contains"):
        raise UnshownFilter("This view's filter has a part the sidebar has no control for (saved through the API); "
                            "open it with the REST API (GET /api/v1/explore/views/<uuid>).")
    op = {"exists": ""}.get(leaf["op"], leaf["op"])
    pairs = [("anykey", leaf["key"])] + ([("anyop", op)] if op else [])
    return pairs + ([("anyval", _text(leaf["value"]))] if "value" in leaf else [])


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
