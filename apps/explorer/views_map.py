"""The map page, ``/explore/map/?key=<embedding key>``: the key's 2-D projection drawn in WebGL
(``static/js/similarity-map.js`` with regl-scatterplot), its status, and the lasso handed to the
Explorer as a filter leaf (``lasso:<key>`` in the Explorer's URL). The page only renders the shell;
points, colour values and status come from the REST endpoints (``apps.explorer.api.projections``).
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.explorer.filters import BUILTIN_NAMES
from apps.explorer.compiler import SORTABLE
from apps.explorer.views import page_organisation, schema_specs

COLOUR_FIELDS = ("type", "folder", "status", "created", "file_size", "width", "height", "duration", "fps")


@require_GET
def projection_map(request):
    organisation = page_organisation(request, request.GET.get("organisation", "")[:64])
    specs = schema_specs(organisation)
    keys = [spec.name for spec in specs if spec.type == "embedding"]
    key = request.GET.get("key", "")
    if key not in keys:
        key = keys[0] if keys else ""
    colours = [(f"field:{name}", f"{name} (built-in)") for name in COLOUR_FIELDS if name in BUILTIN_NAMES]
    colours += [(f"key:{spec.name}", spec.name) for spec in specs if spec.type in SORTABLE]
    return render(request, "similarity/map.html", {
        "organisation": organisation, "keys": keys, "key": key, "colours": colours,
        "api_base": "/api/v1/similarity/projections/", "explore_url": reverse("explorer:explore"),
    })
