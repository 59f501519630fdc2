from django import forms


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. laptop script"}))


class PublicKeyForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    openssh = forms.CharField(
        label="Public key", widget=forms.Textarea(attrs={"rows": 3, "placeholder": "ssh-ed25519 AAAA... you@host"})
    )
