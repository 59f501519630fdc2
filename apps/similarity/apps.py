from django.apps import AppConfig


class SimilarityConfig(AppConfig):
    """The Explorer's second half, over the stored embeddings: nearest neighbours under a filter, text and
    HTTP embedders, the 2-D projection (scatter plot and lasso) and near-duplicates."""

    name = "apps.similarity"
    label = "similarity"
    verbose_name = "Similarity"

    def ready(self) -> None:
        from apps.metadata.hooks import hook_set as metadata_hook_set
        from apps.similarity.hooks import items_probed
        from apps.storage.hooks import hook_set as storage_hook_set

        # Metadata says when vectors change; the projections computed from them go stale and are redone.
        metadata_hook_set("embeddings_changed", _embeddings_changed)
        # Storage says when text and PDF items were probed; their built-in text embedding follows.
        storage_hook_set("items_probed", items_probed)


def _embeddings_changed(organisation_id) -> None:
    from django.conf import settings

    from apps.similarity.models import Projection
    from apps.similarity.tasks import projections_refresh_task

    if Projection.objects.filter(organisation_id=organisation_id).exists():
        projections_refresh_task.apply_async((str(organisation_id),),
                                             countdown=settings.LOUPE_PROJECTION_REFRESH_DELAY_S)
