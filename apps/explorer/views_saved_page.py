"""Saved views from the Explorer page: save the page's current state, open a view as the page, and the
saved-views page (``/explore/views/``) that lists them with open, rename and delete.

A thin door over ``services_views``/``selectors_views`` (the same checks and permissions as
``/api/v1/explore/views``): the owner renames; the owner, or an organisation admin for a shared view,
deletes; another member's private view is a 404. ``page_state`` turns the page's query string into a
view's state and back.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceValidationError
from apps.core.pages import htmx_redirect
from apps.core.selectors import organisation_admin_ids
from apps.explorer import selectors_views, services_views
from apps.explorer.forms import canonical_query, error_list, explore_state
from apps.explorer.page_state import UnshownFilter, page_query_from_view, view_state_from_page
from apps.explorer.views import page_organisation
from apps.metadata.selectors import schema_for

QUERY_MAX = 60_000  # characters of the page query a save carries (a long expression and many sidebar values)


def _specs(organisation) -> list:
    return sorted(schema_for(organisation_id=organisation.pk).keys.values(), key=lambda spec: spec.name)


@require_GET
def saved_views_menu(request):
    """The Explorer page's saved-views menu (loaded after the page): mine, then those others shared in
    the page's organisation."""
    organisation = page_organisation(request, request.GET.get("organisation", "")[:64])
    if organisation is None:
        raise Http404("No organisation.")
    views = list(selectors_views.saved_view_list(user=request.user, organisation=organisation))
    mine = [view for view in views if view.owner_id == request.user.pk]
    return render(request, "explorer/_saved_views.html#menu", {
        "saved_mine": mine, "saved_shared": [view for view in views if view.owner_id != request.user.pk]})


@require_POST
def saved_view_save(request):
    """Save the page state sent as ``query`` under ``name`` (private unless ``shared``); then show it."""
    organisation = page_organisation(request, request.POST.get("organisation", "")[:64])
    query = request.POST.get("query", "")[:QUERY_MAX]
    name, shared = request.POST.get("name", ""), request.POST.get("shared") == "1"
    state = explore_state(QueryDict(query), _specs(organisation))
    try:
        if state.errors:
            raise ServiceValidationError(state.errors)
        view = services_views.saved_view_create(user=request.user, organisation=organisation, name=name,
                                                shared=shared, **view_state_from_page(state))
    except ServiceValidationError as exc:
        errors = [message if place == "name" else f"{place}: {message}"
                  for place, ms in error_list(exc).items() for message in ms]
        return render(request, "explorer/_saved_views.html#save-form", {
            "organisation": organisation, "save_query": query, "save_name": name, "save_shared": shared,
            "save_errors": errors}, status=400)
    messages.success(request, f'Saved the view "{view.name}".')
    return htmx_redirect(request, reverse("explorer:saved-view-open", args=[view.pk]))


@require_GET
def saved_view_open(request, pk):
    """The Explorer page showing the view, checked again for the opener (schema or access may have changed)."""
    view = selectors_views.saved_view_get(user=request.user, pk=pk)
    try:
        selectors_views.saved_view_search(user=request.user, view=view)
        query = page_query_from_view(view, _specs(view.organisation))
    except ServiceValidationError as exc:
        messages.error(request, f'"{view.name}" cannot be opened: '
                                + " ".join(m for ms in error_list(exc).values() for m in ms))
        return redirect("explorer:saved-views")
    except UnshownFilter as exc:
        messages.error(request, f'"{view.name}" cannot be shown on the page: {exc}')
        return redirect("explorer:saved-views")
    return redirect(f"{reverse('explorer:explore')}?{canonical_query(QueryDict(query))}")


@require_GET
def saved_views_page(request):
    """Every view one sees, in every organisation one belongs to, with what one may do to each."""
    admin_of = organisation_admin_ids(user=request.user)
    views = list(selectors_views.saved_view_list(user=request.user))
    for view in views:
        view.can_change = selectors_views.saved_view_can_change(user=request.user, view=view)
        view.can_delete = selectors_views.saved_view_can_delete(user=request.user, view=view, admin_of=admin_of)
    return render(request, "explorer/saved_views.html", {"views": views})


@require_POST
def saved_view_rename(request, pk):
    view = selectors_views.saved_view_get(user=request.user, pk=pk)
    try:
        services_views.saved_view_rename(user=request.user, view=view, name=request.POST.get("name", ""))
        messages.success(request, f'Renamed to "{request.POST.get("name", "").strip()}".')
    except ServiceValidationError as exc:
        messages.error(request, " ".join(m for ms in error_list(exc).values() for m in ms))
    except PermissionDenied as exc:
        return _forbidden(request, str(exc))
    return htmx_redirect(request, reverse("explorer:saved-views"))


@require_POST
def saved_view_delete(request, pk):
    view = selectors_views.saved_view_get(user=request.user, pk=pk)
    try:
        services_views.saved_view_delete(user=request.user, view=view)
    except PermissionDenied as exc:
        return _forbidden(request, str(exc))
    messages.success(request, f'Deleted the view "{view.name}".')
    return htmx_redirect(request, reverse("explorer:saved-views"))


def _forbidden(request, message: str):
    return render(request, "explorer/saved_views.html#forbidden", {"message": message}, status=403)
