"""The Explorer's similarity doors beside the page's own state (``similar=...`` in its URL).

The image search: an image cannot travel in a URL, so this one search is a POST that renders the
Explorer page itself (scope and filter from the query string, as the page's own), with the vector the
key's embedder made from the upload; a copied link of that page shows the normal listing.

The item page's "more like this" (``apps.storage.hooks.item_page_similar``): a GET form to the Explorer
with the item and a key to compare on. Opened from an Explorer result (``?from=/explore/?...``), the
form carries that result's scope and filter (without its similarity and page token), so the nearest
items are found within the same filter.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from django.http import Http404
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceValidationError, UpstreamServiceError
from apps.core.selectors import organisation_list
from apps.explorer.forms import SIMILAR_PARAMS, explore_state
from apps.explorer.selectors import explore_folder
from apps.explorer.views import explore_render, page_organisation, schema_specs
from apps.similarity import embedders
from apps.similarity.query import IMAGE_MAX_BYTES, similarity_key
from apps.similarity.selectors import item_similar_keys

ORIGIN_MAX = 20_000


@require_POST
def image_search(request):
    organisation = page_organisation(request, request.GET.get("organisation", "")[:64])
    if organisation is None:
        raise Http404("No organisation.")
    specs = schema_specs(organisation)
    state = explore_state(request.GET, specs)
    folder = explore_folder(user=request.user, organisation=organisation, pk=state.folder) if state.folder else None
    upload = request.FILES.get("image")
    try:
        key = similarity_key(organisation=organisation, name=request.POST.get("similar", ""), place="similar")
        if upload is None or upload.size > IMAGE_MAX_BYTES:
            raise ServiceValidationError({"image": f"An image file of at most {IMAGE_MAX_BYTES // 2**20} MB."})
        state.similar, state.similar_item, state.similar_text = key.name, "", ""
        state.similar_vector = embedders.embed_image(key=key, data=upload.read())
    except (ServiceValidationError, UpstreamServiceError) as exc:  # the endpoint's failure, shown on the page
        state.errors.update({place: [str(m) for m in messages] for place, messages in exc.message_dict.items()})
    path = reverse("explorer:explore")
    context = {"clear_url": f"{path}?organisation={organisation.pk}", "organisations": organisation_list(user=request.user)}
    return explore_render(request, organisation=organisation, folder=folder, state=state, specs=specs, path=path,
                          template="explorer/explore.html", context=context)


def item_page_similar(request, item) -> dict:
    """``{"similar": {"action", "keys", "hidden", "item"}}`` for the item page's form, {} without a vector."""
    keys = item_similar_keys(item=item)
    if not keys:
        return {}
    action = reverse("explorer:explore")
    hidden = [("organisation", str(item.organisation_id))]
    origin = request.GET.get("from", "")
    if origin and len(origin) <= ORIGIN_MAX and urlsplit(origin).path == action:
        kept = [(name, value) for name, value in parse_qsl(urlsplit(origin).query, keep_blank_values=False)
                if name not in (*SIMILAR_PARAMS, "after")]
        if dict(kept).get("organisation", str(item.organisation_id)) == str(item.organisation_id):
            hidden = [pair for pair in kept if pair[0] != "organisation"] + hidden
    return {"similar": {"action": action, "keys": keys, "hidden": hidden, "item": str(item.pk)}}
