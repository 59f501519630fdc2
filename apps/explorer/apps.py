from django.apps import AppConfig


class ExplorerConfig(AppConfig):
    """The filter language, its compiler and the Explorer's search (above storage and metadata)."""

    name = "apps.explorer"
    label = "explorer"
    verbose_name = "Explorer"

    def ready(self) -> None:
        from apps.storage.hooks import hook_set

        # The item page (storage) walks the result it was opened from through this app's selectors.
        hook_set("item_page_neighbours", _item_page_neighbours)


def _item_page_neighbours(request, item) -> dict:
    from apps.explorer.views_walk import item_page_neighbours  # a view module: loaded on first use

    return item_page_neighbours(request, item)
