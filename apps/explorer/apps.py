from django.apps import AppConfig


class ExplorerConfig(AppConfig):
    """The filter language, its compiler and the Explorer's search (above storage and metadata)."""

    name = "apps.explorer"
    label = "explorer"
    verbose_name = "Explorer"

    def ready(self) -> None:
        from apps.metadata.hooks import hook_set as metadata_hook_set
        from apps.storage.hooks import hook_set as storage_hook_set

        # The item page (storage) walks the result it was opened from through this app's selectors.
        storage_hook_set("item_page_neighbours", _item_page_neighbours)
        storage_hook_set("item_page_similar", _item_page_similar)  # "more like this", opening the Explorer
        # Metadata decides when keys change or are bulk-loaded; the Explorer owns the indexes that follow
        # (apps.explorer.indexes): built in a task after a schema change, dropped at once for a large load.
        metadata_hook_set("key_indexes_changed", _key_indexes_changed)
        metadata_hook_set("key_indexes_set_aside", _key_indexes_set_aside)
        # The lasso drawn on the map is a leaf of the one filter tree, over apps.similarity's points.
        from apps.explorer.compiler import leaf_compiler_set
        from apps.explorer.lasso import projection_leaf_sql

        leaf_compiler_set("projection", projection_leaf_sql)

        # "has a near-duplicate" (apps.similarity's groups): `$duplicate` in a written filter,
        # {"field": "duplicate", "op": "eq", "value": true} in JSON, a true/false select in the sidebar.
        from apps.explorer.filters import Builtin, builtin_register
        from apps.similarity.selectors_duplicates import HAS_DUPLICATE_SQL

        builtin_register("duplicate", Builtin("uuid", "boolean", expression=HAS_DUPLICATE_SQL))


def _item_page_neighbours(request, item) -> dict:
    from apps.explorer.views_walk import item_page_neighbours  # a view module: loaded on first use

    return item_page_neighbours(request, item)


def _item_page_similar(request, item) -> dict:
    from apps.explorer.views_similar import item_page_similar  # a view module: loaded on first use

    return item_page_similar(request, item)


def _key_indexes_changed(organisation_id) -> None:
    from django.conf import settings

    from apps.explorer.tasks import key_indexes_sync_task

    if not settings.LOUPE_EXPLORER_INDEXES:
        return

    key_indexes_sync_task.delay(str(organisation_id))


def _key_indexes_set_aside(organisation_id) -> None:
    from django.conf import settings

    from apps.explorer.indexes import key_indexes_sync

    if not settings.LOUPE_EXPLORER_INDEXES:
        return

    key_indexes_sync(organisation_id=organisation_id)
