from django.urls import path

from apps.core import views

app_name = "core"
urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/new", views.token_create, name="token-create"),
    path("tokens/<int:pk>/revoke", views.token_revoke, name="token-revoke"),
    path("keys/", views.keys, name="keys"),
    path("keys/new", views.key_create, name="key-create"),
    path("keys/<int:pk>/delete", views.key_delete, name="key-delete"),
]
