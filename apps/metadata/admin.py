from django import forms
from django.contrib import admin, messages

from apps.core.errors import ServiceValidationError
from apps.metadata.forms import split_values
from apps.metadata.models import KeyState, MetadataKey
from apps.metadata.services import schema as schema_services
from apps.metadata.validation import VARCHAR_MAX_LENGTH, KeySpec, canonical_type, definition_errors, key_name_error


class MetadataKeyAdminForm(forms.ModelForm):
    """Adding takes a type and its parameters; changing takes a new scalar type or enum values to add."""

    enum_values_text = forms.CharField(
        required=False, label="Enum values", help_text="Comma-separated. When changing an enum: values to add."
    )

    class Meta:
        model = MetadataKey
        fields = ["organisation", "name", "type", "size", "max_length"]

    def clean(self):
        """A new key's name and definition, checked by the same pure rules the services apply, so
        mistakes show on the form instead of after a save."""
        data = super().clean()
        if self.instance.pk is None and "name" in data and "type" in data:
            name, type_name = data["name"], data["type"]
            name_error = key_name_error(name)
            if name_error:
                self.add_error("name", name_error)
            spec = KeySpec(
                name=name, type=canonical_type(type_name) or type_name,
                enum_values=tuple(split_values(data.get("enum_values_text") or "")), size=data.get("size"),
                max_length=data.get("max_length") or VARCHAR_MAX_LENGTH,
            )
            for field, message in definition_errors(spec).items():
                self.add_error("enum_values_text" if field == "enum_values" else field, message)
        return data


@admin.register(MetadataKey)
class MetadataKeyAdmin(admin.ModelAdmin):
    """Schema keys of every organisation. Every write goes through the schema services, so the rules
    (re-typing, enum values, the name of a hard-deleted key staying taken) hold here too. The row
    itself is never deleted: use the soft or hard delete actions."""

    form = MetadataKeyAdminForm
    list_display = ["name", "organisation", "type", "state", "deleted_type", "size", "embedder", "updated_at"]
    list_filter = ["state", "type", "organisation"]
    search_fields = ["name"]
    actions = ["soft_delete", "restore", "hard_delete"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organisation", "name", "type", "enum_values_text", "size", "max_length"]
        return ["organisation", "name", "state", "deleted_type", "enum_values", "type", "max_length",
                "enum_values_text", "size", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["organisation", "name", "state", "deleted_type", "enum_values", "size", "created_at", "updated_at"]

    def has_delete_permission(self, request, obj=None):
        return False  # deleting the row would free a hard-deleted name; the actions below delete by the rules

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if not change:
                created = schema_services.schema_key_add(
                    user=request.user, organisation=data["organisation"], name=data["name"], type=data["type"],
                    enum_values=split_values(data["enum_values_text"]), size=data["size"],
                    max_length=data["max_length"],
                )
                obj.pk = created.pk
                return
            current = MetadataKey.objects.get(pk=obj.pk)
            if data["enum_values_text"]:
                schema_services.schema_enum_values_add(
                    user=request.user, key=current, values=split_values(data["enum_values_text"])
                )
            if {"type", "max_length"} & set(form.changed_data):
                report = schema_services.schema_key_retype(
                    user=request.user, key=current, new_type=data["type"],
                    max_length=data["max_length"] if data["type"] == "varchar" else None,
                )
                summary = f"{report.invalid} of {report.checked} stored values no longer validate (kept as they are)."
                self.message_user(request, summary)
        except ServiceValidationError as exc:
            self.message_user(request, f"Not saved: {exc.message_dict}", messages.ERROR)

    def _each(self, request, queryset, service, states):
        for key in queryset.filter(state__in=states):
            try:
                service(user=request.user, key=key)
            except ServiceValidationError as exc:
                self.message_user(request, f"{key.name}: {exc.message_dict}", messages.ERROR)

    @admin.action(description="Soft delete selected keys (restorable)")
    def soft_delete(self, request, queryset):
        self._each(request, queryset, schema_services.schema_key_soft_delete, [KeyState.ACTIVE])

    @admin.action(description="Restore selected soft-deleted keys")
    def restore(self, request, queryset):
        self._each(request, queryset, schema_services.schema_key_restore, [KeyState.DELETED])

    @admin.action(description="Hard delete selected keys (no restore; the names stay taken)")
    def hard_delete(self, request, queryset):
        self._each(request, queryset, schema_services.schema_key_hard_delete, [KeyState.ACTIVE, KeyState.DELETED])
