from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from apps.core.models import ApiToken, Organisation, OrganisationMember, OrganisationRole, PublicKey, User


class OrganisationMemberFormSet(BaseInlineFormSet):
    """The members page's rule at this door too: a change that would take the organisation's last admin
    away (removed or made a member) is refused. An organisation that had no admin may stay so."""

    def clean(self):
        super().clean()
        admin = OrganisationRole.ADMIN
        forms = [form for form in self.forms if form.has_changed() or form.instance.pk]
        before = sum(1 for form in forms if form.instance.pk and form.initial.get("role") == admin)
        after = sum(1 for form in forms
                    if not self._should_delete_form(form) and form.cleaned_data.get("role") == admin)
        if before and not after:
            raise ValidationError(
                "An organisation keeps at least one admin: make someone else an admin first."
            )


class OrganisationMemberInline(admin.TabularInline):
    model = OrganisationMember
    formset = OrganisationMemberFormSet
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "created_at"]
    search_fields = ["name"]
    inlines = [OrganisationMemberInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be revoked here; their secrets are not stored, so they cannot be shown."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    readonly_fields = ["user", "prefix", "digest", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # created by their owner (UI, API or `manage.py create_api_token`): shown once

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from apps.core.services import api_token_revoke

        for token in queryset:
            api_token_revoke(token=token)


@admin.register(PublicKey)
class PublicKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "fingerprint", "created_at", "last_used_at"]
    readonly_fields = ["key_hex", "fingerprint", "created_at", "last_used_at"]
    search_fields = ["user__email", "name", "fingerprint"]
