from django import forms

from apps.storage.models import FolderRole


class FolderForm(forms.Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class FolderMoveForm(forms.Form):
    """``parent`` is a folder uuid, or empty to move to the top level."""

    parent = forms.ChoiceField(required=False)

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].choices = [("", "(top level)"), *choices]


class FolderMemberForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=FolderRole.choices)


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


class ItemForm(forms.Form):
    name = forms.CharField(max_length=1024)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ItemMoveForm(forms.Form):
    """``folder`` is the uuid of the destination folder."""

    folder = forms.ChoiceField(label="Destination folder")

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].choices = list(choices)
