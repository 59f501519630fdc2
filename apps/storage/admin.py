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
