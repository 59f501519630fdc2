"""The folder page's address (``/folders/<uuid>/``), kept where folder links have always pointed; the
folder's other addresses (settings, rename, move, members, delete, uploads) belong to storage and imports."""

from django.urls import path

from apps.explorer import views_folder

app_name = "folders"
urlpatterns = [
    path("<uuid:pk>/", views_folder.folder_page, name="folder"),
]
