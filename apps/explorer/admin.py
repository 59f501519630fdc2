from django.contrib import admin

from apps.explorer.models import SavedView


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    """Saved views, to look at and to delete. Read-only: a state is only written through
    ``services_views``, which checks it against the schema and the owner's access; deleting one has
    nothing to keep in step, so the admin's own delete is the whole of it."""

    list_display = ["name", "organisation", "owner", "shared", "layout", "updated_at"]
    list_filter = ["shared", "layout", "organisation"]
    search_fields = ["name", "owner__email"]
    list_select_related = ["organisation", "owner"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
