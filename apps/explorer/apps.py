from django.apps import AppConfig


class ExplorerConfig(AppConfig):
    """The filter language, its compiler and the Explorer's search (above storage and metadata)."""

    name = "apps.explorer"
    label = "explorer"
    verbose_name = "Explorer"
