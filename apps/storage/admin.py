from django.contrib import admin, messages

from apps.core.errors import ServiceValidationError
from apps.storage.models import Folder, FolderMember
from apps.storage.services import folders as folder_services


class FolderMemberInline(admin.TabularInline):
    model = FolderMember
    extra = 0
    autocomplete_fields = ["user"]


class TrashFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("trash", "In the trash")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.live()
        if self.value() == "trash":
            return queryset.trashed()
        return queryset


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):
    """Folders of every organisation. Deleting moves to the trash; restoring brings a batch back."""

    list_display = ["name", "organisation", "parent", "created_at", "deleted_at"]
    list_filter = [TrashFilter, "organisation"]
    search_fields = ["name", "uuid"]
    readonly_fields = ["uuid", "root", "path", "created_at", "updated_at", "deleted_at", "deleted_by", "trash_batch"]
    fields = ["uuid", "organisation", "parent", "name", "description", "client_metadata", *readonly_fields[1:]]
    raw_id_fields = ["parent"]
    inlines = [FolderMemberInline]
    actions = ["move_to_trash", "restore"]

    def get_readonly_fields(self, request, obj=None):
        # Tree position changes go through folder_move (the API or the UI) so paths stay consistent.
        return [*self.readonly_fields, "organisation", "parent"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        try:
            if change:
                folder_services.folder_update(
                    user=request.user, folder=obj, name=obj.name, description=obj.description,
                    client_metadata=obj.client_metadata,
                )
            else:
                created = folder_services.folder_create(
                    user=request.user, name=obj.name, parent=obj.parent, organisation=obj.organisation,
                    description=obj.description, client_metadata=obj.client_metadata,
                )
                obj.pk = created.pk
        except ServiceValidationError as exc:
            self.message_user(request, f"Not saved: {exc.message_dict}", messages.ERROR)

    def delete_model(self, request, obj):
        folder_services.folder_trash(user=request.user, folder=obj)

    def delete_queryset(self, request, queryset):
        for folder in queryset.live():
            folder_services.folder_trash(user=request.user, folder=folder)

    @admin.action(description="Move selected folders to the trash")
    def move_to_trash(self, request, queryset):
        for folder in queryset.live():
            folder_services.folder_trash(user=request.user, folder=folder)

    @admin.action(description="Restore selected folders from the trash")
    def restore(self, request, queryset):
        for folder in queryset.trashed().select_related("parent"):
            try:
                folder_services.folder_restore(user=request.user, folder=folder)
            except ServiceValidationError as exc:
                self.message_user(request, f"{folder.name}: {exc.message_dict}", messages.ERROR)


# --------------------------------------------------------------------------- items, jobs, integrations

from django import forms  # noqa: E402

from apps.core.crypto import encrypt  # noqa: E402
from apps.storage.models import Item, StorageIntegration  # noqa: E402
from apps.storage.services import items as item_services  # noqa: E402


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    """Registered items. Deleting moves them to the trash (restorable), as in the UI."""

    list_display = ["name", "item_type", "folder", "status", "file_size", "created_at", "deleted_at"]
    list_filter = ["item_type", "status", TrashFilter]
    search_fields = ["name", "url", "uuid"]
    list_select_related = ["folder"]
    show_full_result_count = False  # exact counts over millions of rows cost a full scan per page
    readonly_fields = [f.name for f in Item._meta.fields if f.name not in {"name", "description"}]
    actions = ["move_to_trash", "restore"]

    def has_add_permission(self, request):
        return False  # items are registered by imports and uploads

    def save_model(self, request, obj, form, change):
        item_services.item_update(user=request.user, item=obj, name=obj.name, description=obj.description)

    def delete_model(self, request, obj):
        item_services.items_trash(user=request.user, items=[obj])

    def delete_queryset(self, request, queryset):
        self.move_to_trash(request, queryset)

    @admin.action(description="Move selected items to the trash")
    def move_to_trash(self, request, queryset):
        items = list(queryset.filter(deleted_at__isnull=True, parent__isnull=True).select_related("folder"))
        if items:
            item_services.items_trash(user=request.user, items=items)

    @admin.action(description="Restore selected items from the trash")
    def restore(self, request, queryset):
        items = list(queryset.filter(deleted_at__isnull=False).select_related("folder"))
        try:
            item_services.items_restore(user=request.user, items=items)
        except ServiceValidationError as exc:
            self.message_user(request, str(exc.message_dict), messages.ERROR)


class StorageIntegrationForm(forms.ModelForm):
    """Credentials are typed in clear and stored encrypted; leave blank to keep the stored value."""

    access_key_id = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    secret_access_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = StorageIntegration
        fields = ["organisation", "name", "kind", "endpoint_url", "region", "client_only", "allow_write"]

    def save(self, commit=True):
        integration = super().save(commit=False)
        if self.cleaned_data.get("access_key_id"):
            integration.access_key_id_encrypted = encrypt(self.cleaned_data["access_key_id"])
        if self.cleaned_data.get("secret_access_key"):
            integration.secret_access_key_encrypted = encrypt(self.cleaned_data["secret_access_key"])
        if commit:
            integration.save()
        return integration


@admin.register(StorageIntegration)
class StorageIntegrationAdmin(admin.ModelAdmin):
    form = StorageIntegrationForm
    list_display = ["name", "organisation", "kind", "endpoint_url", "client_only", "uuid"]
    list_filter = ["kind", "client_only"]
