"""Forms of the schema editor. They shape input; the schema services check the rules."""

from __future__ import annotations

from django import forms

from apps.metadata.models import EMBEDDER_INPUTS, EMBEDDER_TIMEOUT_MAX, EmbedderKind, KeyType
from apps.metadata.validation import EMBEDDING_SIZE_MAX, SCALAR_TYPES, VARCHAR_MAX_LENGTH

SCALAR_CHOICES = [(value, label) for value, label in KeyType.choices if value in SCALAR_TYPES]


def split_values(text: str) -> list[str]:
    """Enum values typed in one field: one per line, or comma-separated on a single line."""
    parts = text.splitlines() if "\n" in text else text.split(",")
    return [part.strip() for part in parts if part.strip()]


class KeyAddForm(forms.Form):
    name = forms.CharField(max_length=255)
    type = forms.ChoiceField(choices=KeyType.choices)
    size = forms.IntegerField(required=False, min_value=1, max_value=EMBEDDING_SIZE_MAX, label="Size")
    enum_values = forms.CharField(required=False, label="Values", help_text="comma-separated, or one per line",
                                  widget=forms.TextInput(attrs={"placeholder": "sunny, rainy, snowy"}))
    max_length = forms.IntegerField(
        required=False, min_value=1, max_value=VARCHAR_MAX_LENGTH, label="Maximum length",
        widget=forms.NumberInput(attrs={"placeholder": "8192"}),
    )

    def service_arguments(self) -> dict:
        """Only the parameters of the chosen type: the hidden fields of other types are ignored."""
        data = self.cleaned_data
        arguments = {"name": data["name"], "type": data["type"]}
        if data["type"] == KeyType.EMBEDDING:
            arguments["size"] = data["size"]
        if data["type"] == KeyType.ENUM:
            arguments["enum_values"] = split_values(data["enum_values"])
        if data["type"] == KeyType.VARCHAR and data["max_length"]:
            arguments["max_length"] = data["max_length"]
        return arguments


class EnumValuesForm(forms.Form):
    values = forms.CharField(label="New values", help_text="comma-separated")

    def clean_values(self) -> list[str]:
        values = split_values(self.cleaned_data["values"])
        if not values:
            raise forms.ValidationError("Give at least one value to add.")
        return values


class RetypeForm(forms.Form):
    type = forms.ChoiceField(choices=SCALAR_CHOICES, label="New type")
    max_length = forms.IntegerField(
        required=False, min_value=1, max_value=VARCHAR_MAX_LENGTH, label="Maximum length"
    )



class EmbedderForm(forms.Form):
    """An embedding key's embedder. URL, inputs and timeout matter for ``http`` only (the service checks them)."""

    embedder = forms.ChoiceField(choices=EmbedderKind.choices, label="Embedder")
    embedder_url = forms.CharField(required=False, max_length=2000, label="Endpoint URL")
    embedder_inputs = forms.MultipleChoiceField(
        required=False, choices=[(value, value) for value in EMBEDDER_INPUTS], label="Takes",
        widget=forms.CheckboxSelectMultiple,
    )
    embedder_timeout = forms.FloatField(required=False, min_value=0.001, max_value=EMBEDDER_TIMEOUT_MAX,
                                        label="Timeout (s)")

    def embedder_spec(self):
        from apps.metadata.services.schema import EmbedderSpec

        data = self.cleaned_data
        return EmbedderSpec(kind=data["embedder"], url=data["embedder_url"], inputs=tuple(data["embedder_inputs"]),
                            timeout=data["embedder_timeout"])
