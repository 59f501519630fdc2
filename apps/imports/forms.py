"""Forms of the import pages: a registration file with its options, and files to upload."""

from __future__ import annotations

from django import forms


class ImportForm(forms.Form):
    """A JSON registration file (see import-format.md) and the options a user may add to the file's own."""

    file = forms.FileField(label="JSON import file")
    skip_duplicate_urls = forms.BooleanField(required=False, label="Skip entries already in this folder")
    all_or_nothing = forms.BooleanField(required=False, label="All or nothing")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field; ``cleaned_data`` holds a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(part, initial) for part in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    files = MultipleFileField(label="Files")
