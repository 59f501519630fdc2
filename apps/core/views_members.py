"""The organisation members page: every member sees who is in the organisation; its admins add an
existing user by email, change roles and remove members.

Views parse forms and call the same services as the REST API (``organisation_member_add``, ``_set``,
``_remove``). htmx requests get the ``members-panel`` fragment back (errors with status 400, swapped
in place); plain posts redirect to the page, so it works without JS too. A write by a non-admin is a
403 (the service refuses it); a user id that is not a member's is a 404.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core import selectors, services
from apps.core.errors import ServiceValidationError
from apps.core.forms import OrganisationMemberAddForm, OrganisationMemberRoleForm
from apps.core.models import Organisation, OrganisationMember


def _organisation(request) -> Organisation:
    """The organisation named by ``organisation`` (GET or POST), else the first one the user administers."""
    orgs = selectors.organisation_list(user=request.user)
    requested = request.POST.get("organisation") or request.GET.get("organisation")
    if requested:
        try:
            organisation = orgs.filter(pk=uuid.UUID(requested)).first()
        except ValueError:
            organisation = None
    else:
        admin_of = selectors.organisation_admin_ids(user=request.user)
        organisation = orgs.filter(pk__in=admin_of).first() or orgs.first()
    if organisation is None:
        raise Http404("No such organisation.")
    return organisation


def _member(organisation: Organisation, user_id: int) -> OrganisationMember:
    return get_object_or_404(selectors.organisation_member_list(organisation=organisation), user_id=user_id)


def _page_url(organisation: Organisation) -> str:
    return f"{reverse('organisation:members')}?organisation={organisation.pk}"


def _panel(request, organisation: Organisation, *, form=None, error: str = "", status: int = 200):
    context = {
        "organisation": organisation,
        "organisations": selectors.organisation_list(user=request.user),
        "members": selectors.organisation_member_list(organisation=organisation),
        "can_manage": selectors.organisation_is_admin(user=request.user, organisation=organisation),
        "form": form or OrganisationMemberAddForm(),
        "role_form": OrganisationMemberRoleForm(),
        "error": error,
    }
    template = "core/members.html#members-panel" if request.htmx else "core/members.html"
    return render(request, template, context, status=status)


def _done(request, organisation: Organisation, message: str):
    if request.htmx:
        return _panel(request, organisation)
    messages.success(request, message)
    return redirect(_page_url(organisation))


def _messages_of(exc: ServiceValidationError) -> str:
    return " ".join(message for messages_ in exc.message_dict.values() for message in messages_)


@require_GET
def members(request):
    return _panel(request, _organisation(request))


@require_POST
def member_add(request):
    organisation = _organisation(request)
    form = OrganisationMemberAddForm(request.POST)
    if form.is_valid():
        try:
            member = services.organisation_member_add(
                organisation=organisation, by=request.user, **form.cleaned_data
            )
            return _done(request, organisation, f"{member.user.email} added as {member.role}.")
        except ServiceValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
    return _panel(request, organisation, form=form, status=400)


@require_POST
def member_role(request, user_id: int):
    organisation = _organisation(request)
    member = _member(organisation, user_id)
    form = OrganisationMemberRoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceValidationError({"role": form.errors["role"]})
        services.organisation_member_set(organisation=organisation, user=member.user, by=request.user,
                                         role=form.cleaned_data["role"])
    except ServiceValidationError as exc:
        return _panel(request, organisation, error=_messages_of(exc), status=400)
    return _done(request, organisation, f"{member.user.email} is now {form.cleaned_data['role']}.")


@require_POST
def member_remove(request, user_id: int):
    organisation = _organisation(request)
    member = _member(organisation, user_id)
    try:
        services.organisation_member_remove(organisation=organisation, user=member.user, by=request.user)
    except ServiceValidationError as exc:
        return _panel(request, organisation, error=_messages_of(exc), status=400)
    if member.user_id == request.user.pk:  # they left: this page is no longer theirs to see
        home = reverse("storage:home")
        if request.htmx:
            return HttpResponse(status=204, headers={"HX-Redirect": home})
        messages.success(request, f"You left {organisation.name}.")
        return redirect(home)
    return _done(request, organisation, f"{member.user.email} removed from {organisation.name}.")
