from django.urls import path

from apps.imports import views

app_name = "imports"
urlpatterns = [
    path("folders/<uuid:pk>/imports", views.folder_import, name="folder-import"),
    path("folders/<uuid:pk>/uploads", views.folder_upload, name="folder-upload"),
    path("folders/<uuid:pk>/jobs", views.folder_jobs, name="folder-jobs"),
    path("imports/<uuid:pk>/", views.import_job_detail, name="import-job"),
    path("imports/<uuid:pk>/cancel", views.import_job_cancel_view, name="import-job-cancel"),
    path("imports/<uuid:pk>/errors.csv", views.import_job_errors_csv, name="import-job-errors-csv"),
]
