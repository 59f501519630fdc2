from django.apps import AppConfig


class SimilarityConfig(AppConfig):
    """The Explorer's second half, over the stored embeddings: nearest neighbours under a filter, text and
    HTTP embedders, the 2-D projection (scatter plot and lasso) and near-duplicates."""

    name = "apps.similarity"
    label = "similarity"
    verbose_name = "Similarity"

    def ready(self) -> None:
        from apps.storage.hooks import hook_set

        # The item page (storage) offers "more like this", which opens the Explorer (above storage).
        hook_set("item_page_similar", _item_page_similar)


def _item_page_similar(request, item) -> dict:
    from apps.similarity.page import item_page_similar  # builds URLs of the Explorer: loaded on first use

    return item_page_similar(request, item)
