from django.urls import path

from apps.similarity import views_duplicates

app_name = "similarity"
urlpatterns: list = [
    path("duplicates/", views_duplicates.duplicates, name="duplicates"),
    path("duplicates/scan", views_duplicates.duplicates_scan, name="duplicates-scan"),
    path("duplicates/<int:group>/resolve", views_duplicates.duplicates_resolve, name="duplicates-resolve"),
]
