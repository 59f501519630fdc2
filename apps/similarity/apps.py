from django.apps import AppConfig


class SimilarityConfig(AppConfig):
    """The Explorer's second half, over the stored embeddings: nearest neighbours under a filter, text and
    HTTP embedders, the 2-D projection (scatter plot and lasso) and near-duplicates."""

    name = "apps.similarity"
    label = "similarity"
    verbose_name = "Similarity"

    def ready(self) -> None:
        from apps.core.jobs import job_kind_register
        from apps.similarity.models_duplicates import DuplicateScan
        from apps.storage.hooks import hook_set

        def enqueue(scan_id: str) -> None:
            from apps.similarity.tasks import duplicate_scan_run_task

            duplicate_scan_run_task.delay(scan_id)

        job_kind_register(model=DuplicateScan, enqueue=enqueue)  # scans left by a dead worker are resumed
        # The probing workers (storage) hand video frame hashes over through a hook, not an import.
        hook_set("video_frame_hashes_store", _frame_hashes_store)


def _frame_hashes_store(item, hashes: dict[int, int]) -> None:
    from apps.similarity.services_duplicates import frame_hashes_store

    frame_hashes_store(item=item, hashes=hashes)
