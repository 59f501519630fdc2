from django.urls import path

from apps.similarity import views

app_name = "similarity"
urlpatterns: list = [
    path("map/", views.projection_map, name="map"),
]
