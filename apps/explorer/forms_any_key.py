"""The sidebar's "Filter on any key" control: one metadata key by name, declared or not, with
has / missing / equals / contains (``anykey``, ``anyop``, ``anyval`` in the page's query string).

It adds one leaf (or, for an untyped equality, one ``or`` of leaves) to the filter tree the sidebar
builds (``forms.explore_state``); the compiler decides what the leaf means for the key's type, so an
undeclared key compares as an untyped value (``compile_leaf``'s ``untyped`` entries) and a declared one
by its type. "equals" on an undeclared key matches the text as written and, when the text reads as a
JSON number or true/false, that value too (``speed = 40`` and ``speed = "40"`` are both what one means
by typing 40 in a box).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

OPS = {"": "has", "missing": "missing", "eq": "equals", "contains": "contains"}
NAME_MAX = 255
VALUE_MAX = 500


@dataclass
class AnyKeyFilter:
    """What the control shows and the leaves it adds (``leaves`` is empty when no key is named)."""

    name: str = ""
    op: str = ""
    value: str = ""
    declared: bool = False
    leaves: list = field(default_factory=list)


def any_key_filter(params, specs: dict, errors: dict) -> AnyKeyFilter:
    """The control's state from ``params``; ``specs`` maps declared key names to their ``KeySpec``.
    A value the control needs but lacks is an ``anyval`` error (shown on the page, never a 500)."""
    chosen = AnyKeyFilter(name=params.get("anykey", "").strip()[:NAME_MAX], value=params.get("anyval", "")[:VALUE_MAX])
    chosen.op = params.get("anyop", "") if params.get("anyop", "") in OPS else ""
    if not chosen.name:
        return chosen
    spec = specs.get(chosen.name)
    chosen.declared = spec is not None
    key = {"key": chosen.name}
    if chosen.op in ("", "missing"):
        chosen.leaves = [{**key, "op": "missing" if chosen.op == "missing" else "exists"}]
    elif not chosen.value.strip():
        errors.setdefault("anyval", []).append(f'Give a value for "{chosen.name}" {OPS[chosen.op]}.')
    elif chosen.op == "contains":
        chosen.leaves = [{**key, "op": "contains", "value": chosen.value}]
    else:
        chosen.leaves = [_equality(key, chosen.value.strip(), spec)]
    return chosen


def _equality(key: dict, text: str, spec) -> dict:
    typed = _scalar(text)
    if spec is not None and spec.type in ("number", "boolean") and typed is not None:
        return {**key, "op": "eq", "value": typed}
    if spec is None and typed is not None:
        return {"or": [{**key, "op": "eq", "value": text}, {**key, "op": "eq", "value": typed}]}
    return {**key, "op": "eq", "value": text}


def _scalar(text: str):
    """``text`` as a JSON number or boolean, else None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, bool) or (isinstance(value, int | float) and value == value and abs(value) != float("inf")):
        return value
    return None
