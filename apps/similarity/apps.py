from django.apps import AppConfig


class SimilarityConfig(AppConfig):
    """The Explorer's second half, over the stored embeddings: nearest neighbours under a filter, text and
    HTTP embedders, the 2-D projection (scatter plot and lasso) and near-duplicates."""

    name = "apps.similarity"
    label = "similarity"
    verbose_name = "Similarity"

    def ready(self):
        from apps.similarity.hooks import items_probed
        from apps.storage.hooks import hook_set

        hook_set("items_probed", items_probed)
