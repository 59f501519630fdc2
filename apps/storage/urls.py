from django.urls import path

from apps.storage import views

app_name = "storage"
urlpatterns = [
    path("", views.home, name="home"),
    path("folders/new", views.folder_create, name="folder-create"),
    path("folders/<uuid:pk>/", views.folder_detail, name="folder"),
    path("folders/<uuid:pk>/new", views.folder_create, name="subfolder-create"),
    path("folders/<uuid:pk>/rename", views.folder_rename, name="folder-rename"),
    path("folders/<uuid:pk>/move", views.folder_move, name="folder-move"),
    path("folders/<uuid:pk>/delete", views.folder_delete, name="folder-delete"),
    path("folders/<uuid:pk>/members", views.folder_member_set, name="folder-members"),
    path("folders/<uuid:pk>/restore", views.folder_restore, name="folder-restore"),
    path("trash/", views.trash, name="trash"),
]
