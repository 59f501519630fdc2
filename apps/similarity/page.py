"""The item page's "more like this": a GET form to the Explorer with the item and a key to compare on.

Opened from an Explorer result (``?from=/explore/?...``), the form carries that result's scope and filter
(without its similarity and page token), so the nearest items are found within the same filter.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from django.urls import reverse

from apps.explorer.forms import SIMILAR_PARAMS
from apps.similarity.selectors import item_similar_keys

ORIGIN_MAX = 20_000


def item_page_similar(request, item) -> dict:
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
