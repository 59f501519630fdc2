"""The item page's metadata forms: a typed form generated from the schema, and a raw JSON editor.

The typed form has one input per declared key (present or not yet set) and a JSON text input per
undeclared key, and turns what the user changed into a JSON merge-patch: only changed keys, ``null``
for a cleared field. Every input carries its shown value as a hidden ``initial-`` field, so "changed"
means changed on this page, not "different from the database now" (which would overwrite a change
someone else made meanwhile). Values are shaped, not checked: the update service validates them and
its messages are put back on the fields they name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django import forms

from apps.core.errors import ServiceValidationError
from apps.core.json_input import json_loads
from apps.metadata.validation import KeySpec, Schema, validate_value

FIELD_PREFIX = "key/"  # "/" cannot appear in a key name, so field names never collide
UNTYPED_PREFIX = "json/"
BOOLEAN_CHOICES = [("", "— unset —"), ("true", "true"), ("false", "false")]
VALUE_SHOWN_MAX = 80  # characters of a value shown read-only
MISSING = object()  # a key the metadata does not have
_SERVICE_MESSAGE = re.compile(r'^(?:item [0-9a-fA-F-]+: )?key "([^"]*)"')


@dataclass
class MetadataRow:
    """One key as the page shows it: its type (or "untyped"), its form fields, its value read-only."""

    name: str
    type: str
    fields: list[str] = field(default_factory=list)
    shown: str = ""
    note: str = ""


def value_shown(value) -> str:
    """A value in one short line: vectors as "N-d vector", other JSON cut at VALUE_SHOWN_MAX characters."""
    if value is MISSING:
        return "—"
    if isinstance(value, list) and len(value) > 8 and all(isinstance(v, int | float) for v in value):
        return f"{len(value)}-d vector"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_SHOWN_MAX else text[: VALUE_SHOWN_MAX - 1] + "…"


def metadata_pretty(value, depth: int = 0) -> str:
    """Indented JSON whose lists of scalars stay on one line (a 512-d vector is one line, not 512)."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict) and value:
        body = ",\n".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {metadata_pretty(v, depth + 1)}"
                          for k, v in sorted(value.items()))
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return "[\n" + ",\n".join(inner + metadata_pretty(v, depth + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- value shapes


def _number(text: str):
    """A number from an input; text that is not one goes to the service as is (it says why)."""
    text = text.strip()
    if not text:
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def _datetime_input(value: str) -> str:
    """An ISO 8601 value as a ``datetime-local`` value in UTC, in the browser's normalised form."""
    parsed = datetime.fromisoformat(value)
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    text = parsed.strftime("%Y-%m-%dT%H:%M")
    if parsed.second or parsed.microsecond:
        text += f":{parsed.second:02d}"
    if parsed.microsecond // 1000:
        text += f".{parsed.microsecond // 1000:03d}".rstrip("0")
    return text


def _datetime_value(text: str):
    """A ``datetime-local`` value (UTC) as ISO 8601 with its offset; unparsable text goes as is."""
    text = text.strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.isoformat()


def _string_value(text: str):
    return text.replace("\r\n", "\n") or None  # browsers send textarea line breaks as CRLF


def _choice_value(text: str):
    return text or None


def _boolean_value(text: str):
    return {"true": True, "false": False}.get(text)


def _json_value(text: str):
    """Parsed JSON text; raises ValueError when it is not JSON. Empty text removes the key."""
    text = text.strip()
    return None if not text else json_loads(text)


def _same(a, b) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _merge_diff(before, after):
    """The merge-patch turning ``before`` into ``after``: objects key by key (``null`` for a removed key),
    anything else whole. (RFC 7386 cannot set a nested value to null: such a value is removed.)"""
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return after
    patch = {key: None for key in before if key not in after}
    for key, value in after.items():
        if key not in before:
            patch[key] = value
        elif not _same(before[key], value):
            patch[key] = _merge_diff(before[key], value)
    return patch


# --------------------------------------------------------------------------- the typed form


def _input(widget_type: str, **attrs):
    return forms.TextInput(attrs={"type": widget_type, **attrs})


class ItemMetadataForm(forms.Form):
    """Typed inputs for the item's metadata; ``patch()`` is the merge-patch of what the user changed.

    Built with the organisation's schema and the item's full metadata (``metadata_with_vectors``).
    Embedding values are shown, not edited; a stored value its key's type no longer accepts is shown
    as JSON text so it can be fixed.
    """

    new_key = forms.CharField(required=False, strip=True, label="New key",
                              widget=forms.TextInput(attrs={"placeholder": "name"}))
    new_value = forms.CharField(required=False, strip=False, label="Value (JSON)",
                                widget=forms.TextInput(attrs={"placeholder": '"text", 12, true, {…}'}))

    def __init__(self, *args, schema: Schema, metadata: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.metadata = metadata
        self.rows: list[MetadataRow] = []
        self._shapes: dict[str, tuple] = {}  # key name → (kind, field names)
        for spec in sorted(schema.keys.values(), key=lambda s: s.name):
            self._declared_row(spec, metadata.get(spec.name, MISSING))
        for name in sorted(set(metadata) - set(schema.keys), key=lambda n: (n.startswith("$"), n)):
            self._untyped_row(name, metadata[name], type_name="untyped")

    # rows ---------------------------------------------------------------------------------------

    def _declared_row(self, spec: KeySpec, value) -> None:
        if spec.type == "embedding":
            shown = f"{len(value)}-d vector" if isinstance(value, list) else "—"
            self.rows.append(MetadataRow(spec.name, f"embedding ({spec.size}-d)", shown=shown,
                                         note="read-only here: write vectors through the API or an import"))
            return
        if value is not MISSING and validate_value(spec, value)[1] is not None:
            self._untyped_row(spec.name, value, type_name=spec.type,
                              note=f"the stored value is not a valid {spec.type}: edit it as JSON")
            return
        base = FIELD_PREFIX + spec.name
        present = value is not MISSING
        label = spec.name
        if spec.type == "geospatial":
            names = [base + "/latitude", base + "/longitude"]
            for name, part, low in ((names[0], "latitude", -90), (names[1], "longitude", -180)):
                self._add(name, forms.CharField(required=False, label=f"{label} {part}", widget=_input(
                    "number", step="any", min=low, max=-low, placeholder=part)),
                    json.dumps(value.get(part)) if present else "")
            self._shapes[spec.name] = ("geospatial", names)
        else:
            kind, field_, initial = self._typed_field(spec, value if present else None, label)
            self._add(base, field_, initial if present else "")
            self._shapes[spec.name] = (kind, [base])
            names = [base]
        note = "in UTC" if spec.type == "datetime" else ""
        self.rows.append(MetadataRow(spec.name, spec.type, names, value_shown(value), note))

    @staticmethod
    def _typed_field(spec: KeySpec, value, label: str) -> tuple[str, forms.Field, str]:
        if spec.type == "boolean":
            initial = "" if value is None else ("true" if value else "false")
            return "boolean", forms.ChoiceField(required=False, label=label, choices=BOOLEAN_CHOICES), initial
        if spec.type == "number":
            return "number", forms.CharField(required=False, label=label, widget=_input("number", step="any")), (
                "" if value is None else json.dumps(value))
        if spec.type == "datetime":
            initial = "" if value is None else _datetime_input(value)
            # Whole seconds unless the value has milliseconds: a finer step would show a millisecond box.
            widget = _input("datetime-local", step="0.001" if "." in initial else "1", title="UTC")
            return "datetime", forms.CharField(required=False, label=f"{label} (UTC)", widget=widget), initial
        if spec.type == "enum":
            choices = [("", "— unset —"), *((v, v) for v in spec.enum_values)]
            return "choice", forms.ChoiceField(required=False, label=label, choices=choices), value or ""
        if spec.type == "text":
            widget = forms.Textarea(attrs={"rows": 3})
            return "string", forms.CharField(required=False, strip=False, label=label, widget=widget), value or ""
        attrs = {"maxlength": spec.max_length} if spec.type == "varchar" else {}
        widget = forms.TextInput(attrs=attrs)
        return "string", forms.CharField(required=False, strip=False, label=label, widget=widget), value or ""

    def _untyped_row(self, name: str, value, *, type_name: str, note: str = "") -> None:
        field_name = UNTYPED_PREFIX + name
        text = json.dumps(value, ensure_ascii=False)
        widget = forms.Textarea(attrs={"rows": 2}) if len(text) > 60 else forms.TextInput()
        self._add(field_name, forms.CharField(required=False, strip=False, label=name, widget=widget), text)
        self._shapes[name] = ("json", [field_name])
        self.rows.append(MetadataRow(name, type_name, [field_name], value_shown(value), note))

    def _add(self, name: str, field_: forms.Field, initial: str) -> None:
        field_.show_hidden_initial = True
        field_.widget.attrs.setdefault("aria-label", field_.label)
        self.fields[name] = field_
        self.initial[name] = initial

    def row_fields(self):
        """(row, its bound fields) pairs, for templates."""
        return [(row, [self[name] for name in row.fields]) for row in self.rows]

    # the patch ----------------------------------------------------------------------------------

    def clean(self):
        cleaned = super().clean()
        for name, (kind, fields) in self._shapes.items():
            if kind == "json":
                try:
                    _json_value(self._submitted(fields[0]))
                except ValueError:
                    self.add_error(fields[0], "Not valid JSON (put text in double quotes).")
        new_key = cleaned.get("new_key", "")
        if new_key:
            if new_key in self.metadata or new_key in self._shapes:
                self.add_error("new_key", f'"{new_key}" is already there: edit it above.')
            if not self.data.get(self.add_prefix("new_value"), "").strip():
                self.add_error("new_value", "Give the new key a value.")
            else:
                try:
                    cleaned["new_value"] = _json_value(cleaned.get("new_value", ""))
                except ValueError:
                    self.add_error("new_value", "Not valid JSON (put text in double quotes).")
        return cleaned

    def _submitted(self, name: str, *, initial: bool = False) -> str:
        key = ("initial-" if initial else "") + self.add_prefix(name)
        return self.data.get(key, "")

    def _value(self, kind: str, fields: list[str], *, initial: bool):
        texts = [self._submitted(name, initial=initial) for name in fields]
        if kind == "geospatial":
            if not any(t.strip() for t in texts):
                return None
            return {part: _number(text) for part, text in zip(("latitude", "longitude"), texts, strict=True)
                    if text.strip()}
        shape = {"boolean": _boolean_value, "number": _number, "datetime": _datetime_value,
                 "choice": _choice_value, "string": _string_value, "json": _json_value}[kind]
        return shape(texts[0])

    def patch(self) -> dict:
        """The merge-patch of the user's changes (call after ``is_valid()``): changed keys, null = removed."""
        patch = {}
        for name, (kind, fields) in self._shapes.items():
            if not all("initial-" + self.add_prefix(f) in self.data for f in fields):
                continue  # the key appeared after the page was drawn: the user did not touch it
            after = self._value(kind, fields, initial=False)
            try:
                before = self._value(kind, fields, initial=True)
            except ValueError:  # a hidden initial that is not JSON was not written by this form
                before = MISSING
            if not _same(before, after):
                # A typed value is validated whole, so it is sent whole; untyped objects change key by key,
                # so a key removed from one is removed (a plain merge would keep it).
                patch[name] = _merge_diff(before, after) if kind == "json" and before is not MISSING else after
        if self.cleaned_data.get("new_key"):
            patch[self.cleaned_data["new_key"]] = self.cleaned_data["new_value"]
        return patch

    def add_service_errors(self, exc: ServiceValidationError) -> None:
        """Put each refusal on the field of the key it names; the rest above the form."""
        for messages in exc.message_dict.values():
            for message in messages:
                match = _SERVICE_MESSAGE.match(message)
                # On the item's own page "item <uuid>: " says nothing; the key and the value do.
                shown = message.split(": ", 1)[1] if message.startswith("item ") and ": " in message else message
                self.add_error(self._field_for(match.group(1)) if match else None, shown)

    def _field_for(self, path: str) -> str | None:
        name = "$encord" if path.startswith("$encord.") else path
        if name in self._shapes:
            return self._shapes[name][1][0]
        return "new_key" if name == self.data.get(self.add_prefix("new_key"), "").strip() else None


class MetadataJsonForm(forms.Form):
    """The whole metadata as JSON text, for a replace."""

    metadata = forms.CharField(strip=False, label="Metadata (JSON)",
                               widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}))

    def clean_metadata(self) -> dict:
        try:
            value = json_loads(self.cleaned_data["metadata"])
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The metadata must be a JSON object ({} clears it).")
        return value

    def add_service_errors(self, exc: ServiceValidationError) -> None:
        for messages in exc.message_dict.values():
            for message in messages:
                self.add_error("metadata", message)
