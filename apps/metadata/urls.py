from django.urls import path

from apps.metadata import views, views_items

app_name = "metadata"
urlpatterns = [
    path("schema/", views.schema, name="schema"),
    path("schema/keys/new", views.key_add, name="key-add"),
    path("schema/keys/<int:pk>/values", views.key_values_add, name="key-values"),
    path("schema/keys/<int:pk>/retype", views.key_retype, name="key-retype"),
    path("schema/keys/<int:pk>/embedder", views.key_embedder, name="key-embedder"),
    path("schema/keys/<int:pk>/delete", views.key_soft_delete, name="key-delete"),
    path("schema/keys/<int:pk>/restore", views.key_restore, name="key-restore"),
    path("schema/keys/<int:pk>/hard-delete", views.key_hard_delete, name="key-hard-delete"),
    path("items/<uuid:pk>/fields", views_items.item_metadata_merge_view, name="item-merge"),
    path("items/<uuid:pk>/json", views_items.item_metadata_replace_view, name="item-replace"),
    path("items/<uuid:pk>/history", views_items.item_metadata_history, name="item-history"),
    path("items/<uuid:pk>/history/<int:change_pk>/revert", views_items.item_metadata_revert, name="item-revert"),
]
