"""Import jobs in the admin: read-only, with their entry errors; cancelling goes through the service."""

from django.contrib import admin

from apps.imports.services.imports import import_job_cancel
from apps.storage.models import ImportJob, ImportJobError


class ImportJobErrorInline(admin.TabularInline):
    model = ImportJobError
    extra = 0
    max_num = 0
    fields = ["entry_index", "pointer", "reason", "stage"]
    readonly_fields = fields
    can_delete = False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["file_name", "folder", "status", "total", "done", "skipped", "failed", "probe_failed",
                    "created_at"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in ImportJob._meta.fields]
    inlines = [ImportJobErrorInline]
    actions = ["cancel"]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts()  # probe_failed without a query per row

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request, queryset):
        for job in queryset.select_related("folder"):
            import_job_cancel(user=request.user, job=job)
