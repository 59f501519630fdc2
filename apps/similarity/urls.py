from django.urls import path

from apps.similarity import views

app_name = "similarity"
urlpatterns = [
    path("image-search", views.image_search, name="image-search"),
]
