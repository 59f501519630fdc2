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
