"""The Explorer page's URL, read into one state: scope, sidebar filters, written expression, sort, view, page.

Everything the page shows comes from its query string, so a copied link reproduces the view and
Back/reload keep the place. The sidebar's controls are named after the key they filter (``min:score``,
``in:camera``, ``has:site``...) and become ONE JSON filter tree, read by ``filters.filter_from_json`` and
combined with the written expression ``q`` by ``selectors.explore_filter``: the page never compiles a
filter itself (STYLE rule 4: the same compiler as the REST search).

Sidebar rules: controls of different keys AND together; the values ticked for one key OR together
(``in``); a range is both of its bounds.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode
import uuid
from dataclasses import dataclass, field

from apps.core.errors import ServiceValidationError
from apps.explorer.compiler import SORTABLE
from apps.explorer.filters import BUILTIN_NAMES, builtin
from apps.explorer.forms_any_key import AnyKeyFilter, any_key_filter
from apps.metadata.validation import KeySpec
from apps.storage.models import ItemType

VIEWS = ("grid", "table")
DEFAULT_SORT = "field:created"
DEFAULT_COLUMNS = ("field:type", "field:name", "field:created")  # in the order the column boxes send them
TABLE_COLUMNS_MAX = 12
TEXT_MAX = 500  # characters of one sidebar text box
TOKEN_MAX = 40_000  # the selectors' own bound; longer is refused there too
SORTABLE_FIELDS = ("created", "name", "type", "status", "file_size", "width", "height", "duration", "fps")
HOVER_KEYS = 4  # metadata keys a tile's hover title shows
TYPE_CHOICES = [(value, label) for value, label in ItemType.choices if value != ItemType.DICOM_FILE]


@dataclass
class Facet:
    """One sidebar block: a schema key (or a built-in), its controls and their current values."""

    name: str
    type: str
    target: str = "key"
    param: str = ""  # the name its controls carry: the key, or "$" + the built-in
    choices: tuple[str, ...] = ()
    values: dict = field(default_factory=dict)
    active: bool = False


@dataclass
class ExploreState:
    """The page's whole state, as read from its query string."""

    organisation: str = ""
    folder: uuid.UUID | None = None
    recursive: bool = True
    recursive_default: bool = True  # a folder page shows the folder's own items unless asked for subfolders
    q: str = ""
    sort: str = DEFAULT_SORT
    desc: bool = True
    view: str = "grid"
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    after: str = ""
    facets: list[Facet] = field(default_factory=list)
    tree_json: dict | None = None
    any_key: AnyKeyFilter = field(default_factory=AnyKeyFilter)
    lassos: list[tuple[str, list]] = field(default_factory=list)  # (embedding key, polygon) from the map
    errors: dict[str, list[str]] = field(default_factory=dict)
    similar: str = ""  # an embedding key: the results are the items nearest to ...
    similar_item: str = ""  # ... this item's vector (its frame's, with similar_frame) ...
    similar_frame: int | None = None
    similar_text: str = ""  # ... or this sentence's, on a key with a text embedder
    similar_vector: list | None = None  # ... or an uploaded image's (set by the image search, never from the URL)

    def similar_json(self) -> dict | None:
        """The ``similar_to`` of the REST search this state asks for, or None (the normal listing)."""
        if not self.similar:
            return None
        if self.similar_vector is not None:
            return {"key": self.similar, "vector": self.similar_vector}
        if self.similar_text:
            return {"key": self.similar, "text": self.similar_text}
        return {"key": self.similar, "item": self.similar_item, "frame": self.similar_frame}

    @property
    def lasso_texts(self) -> list[tuple[str, str]]:
        """(key, polygon text) of each lasso, for the hidden inputs that keep it across form changes."""
        return [(key, lasso_text(polygon)) for key, polygon in self.lassos]

    def sort_json(self) -> list[dict]:
        target, _, name = self.sort.partition(":")
        return [{target: name, "desc": self.desc}]


def sort_choices(specs: list[KeySpec]) -> list[tuple[str, str]]:
    """Every sort the page offers: the built-in fields, then each key of a sortable type."""
    return ([(f"field:{name}", name.replace("_", " ")) for name in SORTABLE_FIELDS]
            + [(f"key:{spec.name}", spec.name) for spec in specs if spec.type in SORTABLE])


def column_choices(specs: list[KeySpec]) -> list[tuple[str, str]]:
    """Every table column: the built-in fields, then each key that holds a showable value."""
    return ([(f"field:{name}", name.replace("_", " ")) for name in BUILTIN_NAMES]
            + [(f"key:{spec.name}", spec.name) for spec in specs if spec.type != "embedding"])


def explore_state(params, specs: list[KeySpec], *, recursive_default: bool = True) -> ExploreState:
    """The state ``params`` (a QueryDict) describes; unusable values fall back to the defaults, and
    sidebar values the filter cannot take are kept with an error (shown, never a 500)."""
    state = ExploreState(organisation=params.get("organisation", "")[:64], recursive_default=recursive_default)
    folder = params.get("folder", "")
    if folder:
        try:
            state.folder = uuid.UUID(folder[:64])
        except ValueError:
            state.errors.setdefault("folder", []).append("Not a folder id.")
    # A checkbox after a hidden "0": the last value is the switch's state.
    state.recursive = (params.getlist("sub") or ["1" if recursive_default else "0"])[-1] != "0"
    state.q = params.get("q", "")[:10_000]
    sorts = dict(sort_choices(specs))
    state.sort = params.get("sort") if params.get("sort") in sorts else DEFAULT_SORT
    state.desc = params.get("dir", "desc") != "asc"
    state.view = params.get("view") if params.get("view") in VIEWS else "grid"
    columns = dict(column_choices(specs))
    chosen = [c for c in dict.fromkeys(params.getlist("col")) if c in columns][:TABLE_COLUMNS_MAX]
    state.columns = tuple(chosen) or DEFAULT_COLUMNS
    state.after = params.get("after", "")[:TOKEN_MAX]
    state.facets = _facets(params, specs)
    leaves = [leaf for facet in state.facets for leaf in _facet_leaves(facet, state.errors)]
    state.any_key = any_key_filter(params, {spec.name: spec for spec in specs}, state.errors)
    leaves += state.any_key.leaves
    state.lassos = lasso_params(params, state.errors)
    leaves += [{"projection": {"key": key, "polygon": polygon}} for key, polygon in state.lassos]
    state.tree_json = {"and": leaves} if leaves else None
    _similar_state(params, state)
    return state


LASSO_TEXT_MAX = 40_000  # characters of one lasso: 1,000 vertices of ~20 characters, with room


def lasso_params(params, errors: dict) -> list[tuple[str, list]]:
    """The lassos the map hands over, ``lasso:<key>=x1,y1 x2,y2 ...``: (key, [[x, y], ...]) pairs; the
    filter tree checks vertex counts and the key (here only the text's shape is read)."""
    lassos = []
    for name in params:
        if not name.startswith("lasso:"):
            continue
        text = params.get(name, "")[:LASSO_TEXT_MAX]
        try:
            polygon = [[float(x), float(y)] for x, y in (pair.split(",") for pair in text.split())]
        except ValueError:
            errors.setdefault(name, []).append("A lasso is written x1,y1 x2,y2 ... (numbers).")
            continue
        lassos.append((name[len("lasso:"):], polygon))
    return lassos


def lasso_text(polygon: list) -> str:
    """A polygon as the page's ``lasso:<key>`` parameter writes it."""
    return " ".join(f"{x:.6g},{y:.6g}" for x, y in polygon)

SIMILAR_PARAMS = ("similar", "similar_item", "similar_frame", "similar_text")


def _similar_state(params, state: ExploreState) -> None:
    """``similar=<key>&similar_item=<uuid>[&similar_frame=n]`` or ``similar=<key>&similar_text=...``."""
    state.similar = params.get("similar", "").strip()[:200]
    state.similar_item = params.get("similar_item", "").strip()[:64]
    state.similar_text = params.get("similar_text", "").strip()[:TEXT_MAX * 4]
    frame = params.get("similar_frame", "").strip()
    if frame:
        if frame.isdigit() and len(frame) < 10:
            state.similar_frame = int(frame)
        else:
            state.errors.setdefault("similar_frame", []).append("A frame number.")
    if state.similar and not (state.similar_item or state.similar_text):
        state.errors.setdefault("similar", []).append("Nearest to what? Give similar_item or similar_text.")
    if (state.similar_item or state.similar_text) and not state.similar:
        state.errors.setdefault("similar", []).append("Choose the embedding key to compare on.")


def _facets(params, specs: list[KeySpec]) -> list[Facet]:
    facets = [Facet("type", "enum", target="field", choices=tuple(v for v, _ in TYPE_CHOICES)),
              Facet("name", "varchar", target="field")]
    if builtin("duplicate") is not None:  # registered by the similarity app
        facets.append(Facet("duplicate", "boolean", target="field"))
    facets += [Facet(spec.name, spec.type, choices=spec.enum_values) for spec in specs]
    for facet in facets:
        key = facet.param = f"${facet.name}" if facet.target == "field" else facet.name
        facet.values = {
            "picked": [v for v in params.getlist(f"in:{key}") if v in facet.choices],
            "is": params.get(f"is:{key}", ""),
            "min": params.get(f"min:{key}", "").strip()[:TEXT_MAX],
            "max": params.get(f"max:{key}", "").strip()[:TEXT_MAX],
            "text": params.get(f"text:{key}", "").strip()[:TEXT_MAX],
            "match": "prefix" if params.get(f"match:{key}") == "prefix" else "contains",
            "has": params.get(f"has:{key}", ""),
        }
        facet.active = any(facet.values[name] for name in ("picked", "is", "min", "max", "text", "has"))
    return facets


def _number(text: str, where: str, errors: dict) -> float | int | None:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        errors.setdefault(where, []).append(f"Not a number: {text[:60]!r}.")
        return None
    return int(value) if value.is_integer() and abs(value) <= 2**53 else value


def _facet_leaves(facet: Facet, errors: dict) -> list[dict]:
    """The leaves one facet's controls ask for (``[]`` when none is set)."""
    target = {facet.target: facet.name}
    values, leaves = facet.values, []
    if values["has"] in ("yes", "no") and (facet.target == "key" or builtin(facet.name).nullable):
        leaves.append({**target, "op": "exists" if values["has"] == "yes" else "missing"})
    if facet.type == "boolean" and values["is"] in ("true", "false"):
        leaves.append({**target, "op": "eq", "value": values["is"] == "true"})
    if facet.type == "enum" and values["picked"]:
        leaves.append({**target, "op": "in", "value": values["picked"]})  # OR within the key
    if facet.type in ("number", "datetime"):
        for bound, op in (("min", "gte"), ("max", "lte")):
            text = values[bound]
            if not text:
                continue
            value = text if facet.type == "datetime" else _number(text, f"{bound}:{facet.param}", errors)
            if value is not None:
                leaves.append({**target, "op": op, "value": value})
    if facet.type in ("varchar", "uuid", "text") and values["text"]:
        op = "contains" if facet.type == "text" else values["match"]
        leaves.append({**target, "op": op, "value": values["text"]})
    return leaves


def error_list(exc: ServiceValidationError) -> dict[str, list[str]]:
    """A service's field-keyed errors as ``{place: [messages]}`` for the page."""
    return {place: [str(m) for m in messages] for place, messages in exc.message_dict.items()}


def canonical_query(params, *, after: str = "", recursive_default: bool = True) -> str:
    """The query string of the same view without empty controls and defaults (what the address bar shows
    and links carry, so a copied link is short and reads as the filter it is); ``after`` the page token,
    ``recursive_default`` whether the page includes subfolders when ``sub`` is not given."""
    pairs = []
    for name, values in params.lists():
        if name == "after":
            continue
        if name == "sub":
            on = values[-1] != "0"
            values = [] if on == recursive_default else ["1" if on else "0"]
        elif name == "col":
            values = [] if tuple(values) == DEFAULT_COLUMNS else values
        elif (name, values) in (("sort", [DEFAULT_SORT]), ("dir", ["desc"]), ("view", ["grid"])):
            values = []
        elif name.startswith("match:") and (values == ["contains"] or not params.get(f"text:{name[6:]}")):
            values = []
        pairs += [(name, value) for value in values if value != ""]
    if after:
        pairs.append(("after", after))
    return urlencode(pairs)
