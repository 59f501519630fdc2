from django import forms

from apps.core.models import OrganisationRole


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "e.g. laptop script"}))


class PublicKeyForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    openssh = forms.CharField(
        label="Public key", widget=forms.Textarea(attrs={"rows": 3, "placeholder": "ssh-ed25519 AAAA... you@host"})
    )


class OrganisationMemberAddForm(forms.Form):
    email = forms.EmailField(
        max_length=254, widget=forms.EmailInput(attrs={"placeholder": "someone@example.com"})
    )
    role = forms.ChoiceField(choices=OrganisationRole.choices, initial=OrganisationRole.MEMBER)


class OrganisationMemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=OrganisationRole.choices)
