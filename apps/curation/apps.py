from django.apps import AppConfig


class CurationConfig(AppConfig):
    """Collections, datasets (with frozen versions), projects and their exports: above the Explorer,
    whose filter tree, scope and selection they take, and below the doors (pages, REST, Encord)."""

    name = "apps.curation"
    label = "curation"
    verbose_name = "Curation"
