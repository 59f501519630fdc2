"""The folder page: the Explorer with the folder as its fixed scope (the same filters, sort, grid/table,
selection and paging as ``/explore/``, through ``views.explore_render``), under a folder header with the
breadcrumbs, the subfolders, adding data and a link to the folder's settings.

The page lives here, not in ``apps.storage``, because it is built on the Explorer's query and storage may
not import the Explorer; folder administration (rename, move, members, delete) stays in storage, on its
own settings page. Unlike ``/explore/``, a folder page shows the folder's own items unless "include
subfolders" is ticked (``sub=1``).
"""

from __future__ import annotations

from django.views.decorators.http import require_GET

from apps.explorer.forms import explore_state
from apps.explorer.views import explore_render, schema_specs
from apps.storage.forms import FolderForm
from apps.storage.models import FolderRole
from apps.storage.permissions import folder_get_for, folder_role
from apps.storage.selectors import folder_breadcrumbs, folder_list
from apps.storage.selectors_items import RECENT_JOBS, import_job_list


@require_GET
def folder_page(request, pk):
    folder = folder_get_for(user=request.user, pk=pk)
    specs = schema_specs(folder.organisation)
    state = explore_state(request.GET, specs, recursive_default=False)
    state.errors.pop("folder", None)  # the scope is the folder in the path, whatever the query says
    state.folder = folder.pk
    fragment = request.htmx and request.htmx.target in ("load-more", "results")
    context = {"clear_url": folder.get_absolute_url(), "save_prefix": f"folder={folder.pk}&sub=0&",
               **({} if fragment else _header(request, folder))}
    return explore_render(request, organisation=folder.organisation, folder=folder, state=state, specs=specs,
                          path=folder.get_absolute_url(), template="explorer/folder.html", context=context)


def _header(request, folder) -> dict:
    """What the folder header shows: where the folder is, what it holds, what the user may do there."""
    role = folder_role(user=request.user, folder=folder)
    return {
        "role": role,
        "can_edit": FolderRole.rank(role) >= FolderRole.rank(FolderRole.EDITOR),
        "breadcrumbs": folder_breadcrumbs(folder=folder),
        "children": folder_list(user=request.user, parent=folder),
        "jobs": import_job_list(folder=folder)[:RECENT_JOBS],
        "form": FolderForm(),
    }
