from django.apps import AppConfig


class MetadataConfig(AppConfig):
    name = "apps.metadata"
    label = "metadata"
    verbose_name = "Metadata"

    def ready(self):
        # Storage shows items' metadata (REST items, the item page) through hooks, not imports of this app.
        from apps.storage.hooks import hook_set

        hook_set("items_full_metadata", _items_full_metadata)
        hook_set("item_page_metadata_context", _item_page_metadata_context)


def _items_full_metadata(items) -> dict:
    from apps.metadata.services.derived import metadata_with_vectors

    return metadata_with_vectors(items)


def _item_page_metadata_context(request, item, *, can_edit: bool) -> dict:
    from apps.metadata.views_items import item_metadata_context  # a view module: loaded on first use

    return item_metadata_context(request, item, can_edit=can_edit)
