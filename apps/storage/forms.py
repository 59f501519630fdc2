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


class ItemForm(forms.Form):
    name = forms.CharField(max_length=1024)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ItemMoveForm(forms.Form):
    """``folder`` is the uuid of the destination folder."""

    folder = forms.ChoiceField(label="Destination folder")

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].choices = list(choices)


class IntegrationForm(forms.Form):
    """An S3-compatible bucket for an organisation the user administers."""

    organisation = forms.ChoiceField()
    name = forms.CharField(max_length=200)
    endpoint_url = forms.CharField(max_length=500, required=False, label="Endpoint URL",
                                   help_text="Empty for AWS; e.g. http://minio:9000 otherwise.")
    region = forms.CharField(max_length=64, required=False)
    access_key_id = forms.CharField(max_length=200, required=False, label="Access key id")
    secret_access_key = forms.CharField(max_length=200, required=False, label="Secret access key",
                                        widget=forms.PasswordInput(render_value=False))
    client_only = forms.BooleanField(required=False, label="Client only (Loupe never reads the files)")
    allow_write = forms.BooleanField(required=False, label="Loupe may write rendered files to the bucket")

    def __init__(self, *args, organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [(str(org.pk), org.name) for org in organisations]
