from django.urls import path

from apps.storage import views, views_integrations, views_items

app_name = "storage"
urlpatterns = [
    path("", views.home, name="home"),
    path("folders/new", views.folder_create, name="folder-create"),
    path("folders/<uuid:pk>/settings/", views.folder_settings, name="folder-settings"),
    path("folders/<uuid:pk>/new", views.folder_create, name="subfolder-create"),
    path("folders/<uuid:pk>/rename", views.folder_rename, name="folder-rename"),
    path("folders/<uuid:pk>/move", views.folder_move, name="folder-move"),
    path("folders/<uuid:pk>/delete", views.folder_delete, name="folder-delete"),
    path("folders/<uuid:pk>/members", views.folder_member_set, name="folder-members"),
    path("folders/<uuid:pk>/restore", views.folder_restore, name="folder-restore"),
    path("items/<uuid:pk>/", views_items.item_detail, name="item"),
    path("items/<uuid:pk>/content", views_items.item_content, name="item-content"),
    path("items/signed/<str:token>", views_items.item_content_signed, name="item-content-signed"),
    path("items/<uuid:pk>/preview", views_items.item_preview, name="item-preview"),
    path("items/<uuid:pk>/frames/<int:index>", views_items.item_frame, name="item-frame"),
    path("items/<uuid:pk>/waveform", views_items.item_waveform, name="item-waveform"),
    path("items/<uuid:pk>/pages/<int:number>.png", views_items.item_pdf_page, name="item-pdf-page"),
    path("items/<uuid:pk>/text", views_items.item_text, name="item-text"),
    path("items/<uuid:pk>/rename", views_items.item_rename, name="item-rename"),
    path("items/<uuid:pk>/move", views_items.item_move, name="item-move"),
    path("items/<uuid:pk>/delete", views_items.item_delete, name="item-delete"),
    path("items/<uuid:pk>/restore", views_items.item_restore, name="item-restore"),
    path("trash/", views.trash, name="trash"),
    path("integrations/", views_integrations.integrations, name="integrations"),
]
