from django.apps import AppConfig


class SimilarityConfig(AppConfig):
    """The Explorer's second half, over the stored embeddings: nearest neighbours under a filter, text and
    HTTP embedders, the 2-D projection (scatter plot and lasso) and near-duplicates."""

    name = "apps.similarity"
    label = "similarity"
    verbose_name = "Similarity"

    def ready(self) -> None:
        from apps.core.jobs import job_kind_register
        from apps.metadata.hooks import hook_set as metadata_hook_set
        from apps.similarity.hooks import items_probed
        from apps.similarity.models_duplicates import DuplicateScan
        from apps.storage.hooks import hook_set as storage_hook_set

        # Metadata says when vectors change; the projections computed from them go stale and are redone.
        metadata_hook_set("embeddings_changed", _embeddings_changed)
        # Storage says when text and PDF items were probed; their built-in text embedding follows.
        storage_hook_set("items_probed", items_probed)
        # The probing workers (storage) hand video frame hashes over through a hook, not an import.
        storage_hook_set("video_frame_hashes_store", _frame_hashes_store)

        def enqueue(scan_id: str) -> None:
            from apps.similarity.tasks import duplicate_scan_run_task

            duplicate_scan_run_task.delay(scan_id)

        job_kind_register(model=DuplicateScan, enqueue=enqueue)  # scans left by a dead worker are resumed


def _embeddings_changed(organisation_id) -> None:
    from django.conf import settings

    from apps.similarity.models import Projection
    from apps.similarity.tasks import projections_refresh_task

    if Projection.objects.filter(organisation_id=organisation_id).exists():
        projections_refresh_task.apply_async((str(organisation_id),),
                                             countdown=settings.LOUPE_PROJECTION_REFRESH_DELAY_S)


def _frame_hashes_store(item, hashes: dict[int, int]) -> None:
    from apps.similarity.services_duplicates import frame_hashes_store

    frame_hashes_store(item=item, hashes=hashes)
