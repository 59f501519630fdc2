"""The schema editor page: list an organisation's keys; admins add, extend, re-type and delete them.

Views parse forms and call the same services as the REST API. htmx requests get the ``schema-panel``
fragment back (errors with status 400, which htmx swaps in place); plain posts redirect to the page
on success, so the editor works without JS too.
"""

from __future__ import annotations

import json
import uuid

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceValidationError
from apps.core.selectors import organisation_admin_ids, organisation_list
from apps.metadata.forms import SCALAR_CHOICES, EmbedderForm, EnumValuesForm, KeyAddForm, RetypeForm
from apps.metadata.models import MetadataKey
from apps.metadata.selectors import schema_can_edit, schema_keys
from apps.metadata.services import schema as schema_services


def _organisation(request):
    """The organisation named by ``organisation`` (GET or POST), else the first one the user administers."""
    orgs = organisation_list(user=request.user)
    requested = request.POST.get("organisation") or request.GET.get("organisation")
    if requested:
        try:
            organisation = orgs.filter(pk=uuid.UUID(requested)).first()
        except ValueError:
            organisation = None
    else:
        admin_of = organisation_admin_ids(user=request.user)
        organisation = orgs.filter(pk__in=admin_of).first() or orgs.first()
    if organisation is None:
        raise Http404("No such organisation.")
    return organisation


def _page_url(organisation) -> str:
    return f"{reverse('metadata:schema')}?organisation={organisation.pk}"


def _panel(request, organisation, *, form=None, error: str = "", report=None, status: int = 200):
    context = {
        "organisation": organisation,
        "organisations": organisation_list(user=request.user),
        "keys": schema_keys(organisation=organisation),
        "can_edit": schema_can_edit(user=request.user, organisation_id=organisation.pk),
        "form": form or KeyAddForm(),
        "scalar_choices": SCALAR_CHOICES,
        "embedder_form": EmbedderForm(),
        "error": error,
        "report": report,
        "report_rows": [(ex.item, ex.frame, json.dumps(ex.value, ensure_ascii=False)) for ex in report.examples]
        if report else [],
    }
    template = "metadata/schema.html#schema-panel" if request.htmx else "metadata/schema.html"
    return render(request, template, context, status=status)


def _done(request, organisation, message: str, *, report=None):
    if request.htmx:
        return _panel(request, organisation, report=report)
    messages.success(request, message)
    return redirect(_page_url(organisation))


def _messages_of(exc: ServiceValidationError) -> str:
    return " ".join(message for messages_ in exc.message_dict.values() for message in messages_)


def _key(request, pk) -> MetadataKey:
    keys = MetadataKey.objects.select_related("organisation")
    return get_object_or_404(keys, pk=pk, organisation__in=organisation_list(user=request.user))


@require_GET
def schema(request):
    # ?declare=<name>: the Explorer's "Declare this key" link opens the add-key form with the name filled in.
    declare = request.GET.get("declare", "")[:255]
    return _panel(request, _organisation(request), form=KeyAddForm(initial={"name": declare}) if declare else None)


@require_POST
def key_add(request):
    organisation = _organisation(request)
    form = KeyAddForm(request.POST)
    if form.is_valid():
        try:
            key = schema_services.schema_key_add(
                user=request.user, organisation=organisation, **form.service_arguments()
            )
            return _done(request, organisation, f'Key "{key.name}" added.')
        except ServiceValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
    return _panel(request, organisation, form=form, status=400)


@require_POST
def key_values_add(request, pk):
    key = _key(request, pk)
    form = EnumValuesForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceValidationError({"enum_values": form.errors["values"][0]})
        schema_services.schema_enum_values_add(user=request.user, key=key, values=form.cleaned_data["values"])
    except ServiceValidationError as exc:
        return _panel(request, key.organisation, error=_messages_of(exc), status=400)
    return _done(request, key.organisation, f'Values added to "{key.name}".')


@require_POST
def key_retype(request, pk):
    key = _key(request, pk)
    form = RetypeForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceValidationError({field: errors[0] for field, errors in form.errors.items()})
        report = schema_services.schema_key_retype(
            user=request.user, key=key, new_type=form.cleaned_data["type"],
            max_length=form.cleaned_data["max_length"] if form.cleaned_data["type"] == "varchar" else None,
        )
    except ServiceValidationError as exc:
        return _panel(request, key.organisation, error=_messages_of(exc), status=400)
    summary = (f'Key "{key.name}" is now {report.new_type}: {report.invalid} of {report.checked} stored values '
               "no longer validate (they are kept).")
    return _done(request, key.organisation, summary, report=report)


@require_POST
def key_embedder(request, pk):
    key = _key(request, pk)
    form = EmbedderForm(request.POST)
    try:
        if not form.is_valid():
            raise ServiceValidationError({field: errors[0] for field, errors in form.errors.items()})
        key = schema_services.schema_key_embedder_set(user=request.user, key=key, embedder=form.embedder_spec())
    except ServiceValidationError as exc:
        return _panel(request, key.organisation, error=_messages_of(exc), status=400)
    return _done(request, key.organisation, f'Key "{key.name}" now uses embedder: {key.get_embedder_display()}.')


def _key_state_view(service, done_message: str):
    @require_POST
    def view(request, pk):
        key = _key(request, pk)
        try:
            service(user=request.user, key=key)
        except ServiceValidationError as exc:
            return _panel(request, key.organisation, error=_messages_of(exc), status=400)
        return _done(request, key.organisation, done_message.format(name=key.name))

    return view


key_soft_delete = _key_state_view(
    schema_services.schema_key_soft_delete, 'Key "{name}" deleted; it can be restored.'
)
key_restore = _key_state_view(schema_services.schema_key_restore, 'Key "{name}" restored.')
key_hard_delete = _key_state_view(
    schema_services.schema_key_hard_delete, 'Key "{name}" deleted for good; its name stays taken.'
)
