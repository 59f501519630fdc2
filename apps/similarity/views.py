"""Similarity pages. The image search: an uploaded image's nearest items, shown in the Explorer.

An image cannot travel in a URL, so this one search is a POST that renders the Explorer page itself
(scope and filter from the query string, as the page's own), with the vector the key's embedder
made from the upload; a copied link of that page shows the normal listing.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import ServiceValidationError
from apps.core.selectors import organisation_list
from apps.explorer.forms import explore_state
from apps.explorer.selectors import explore_folder
from apps.explorer.views import explore_render, page_organisation, schema_specs
from apps.similarity import embedders
from apps.similarity.query import IMAGE_MAX_BYTES, similarity_key


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
    except ServiceValidationError as exc:
        state.errors.update({place: [str(m) for m in messages] for place, messages in exc.message_dict.items()})
    path = reverse("explorer:explore")
    return explore_render(request, organisation=organisation, folder=folder, state=state, specs=specs, path=path,
                          template="explorer/explore.html", context={"clear_url": f"{path}?organisation={organisation.pk}",
                                   "organisations": organisation_list(user=request.user)})
