from django.apps import AppConfig


class MetadataConfig(AppConfig):
    name = "apps.metadata"
    label = "metadata"
    verbose_name = "Metadata"

    def ready(self) -> None:
        from apps.core.jobs import job_kind_register
        from apps.metadata.models_jobs import MetadataJob
        from apps.storage.hooks import hook_set

        def enqueue(job_id: str) -> None:
            from apps.metadata.tasks import metadata_job_run_task

            metadata_job_run_task.delay(job_id)

        job_kind_register(model=MetadataJob, enqueue=enqueue)  # metadata jobs left by a dead worker are resumed
        # Storage shows items' metadata (REST items, the item page) through hooks, not imports of this app.
        hook_set("items_full_metadata", _items_full_metadata)
        hook_set("item_page_metadata_context", _item_page_metadata_context)


def _items_full_metadata(items) -> dict:
    from apps.metadata.services.derived import metadata_with_vectors

    return metadata_with_vectors(items)


def _item_page_metadata_context(request, item, *, can_edit: bool) -> dict:
    from apps.metadata.views_items import item_metadata_context  # a view module: loaded on first use

    return item_metadata_context(request, item, can_edit=can_edit)
