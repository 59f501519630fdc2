from django.urls import path

from apps.explorer import views, views_duplicates, views_map, views_panel, views_saved_page, views_similar

app_name = "explorer"
urlpatterns = [
    path("", views.explore, name="explore"),
    path("map/", views_map.projection_map, name="map"),
    path("facets", views_panel.explore_facets_fragment, name="facets"),
    path("count", views_panel.explore_count_fragment, name="count"),
    path("similar-image", views_similar.image_search, name="similar-image"),
    path("items/<uuid:pk>/panel", views_panel.item_panel, name="item-panel"),
    path("views/", views_saved_page.saved_views_page, name="saved-views"),
    path("views/menu", views_saved_page.saved_views_menu, name="saved-views-menu"),
    path("views/save", views_saved_page.saved_view_save, name="saved-view-save"),
    path("views/<uuid:pk>/open", views_saved_page.saved_view_open, name="saved-view-open"),
    path("views/<uuid:pk>/rename", views_saved_page.saved_view_rename, name="saved-view-rename"),
    path("views/<uuid:pk>/delete", views_saved_page.saved_view_delete, name="saved-view-delete"),
    path("duplicates/", views_duplicates.duplicates, name="duplicates"),
    path("duplicates/scan", views_duplicates.duplicates_scan, name="duplicates-scan"),
    path("duplicates/<int:group>/resolve", views_duplicates.duplicates_resolve, name="duplicates-resolve"),
]
