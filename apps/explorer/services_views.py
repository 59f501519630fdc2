"""Writes of saved views: create, rename, update (state and sharing), delete.

Every state is checked by ``selectors_views.view_state_check`` (the search's own filter, expression,
sort and scope checks) before it is written, and a refused write changes nothing. Only the owner
changes a view; the owner, or an admin of its organisation for a shared view, deletes it. Name clashes
are refused with a ``name`` error, and the database constraints (``SavedView.Meta``) hold the rule
when two requests race.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower

from apps.core.errors import ServiceValidationError
from apps.core.models import Organisation, User
from apps.explorer.models import NAME_MAX, SavedView, ViewLayout
from apps.explorer.selectors_views import saved_view_can_change, saved_view_can_delete, view_state_check
from apps.storage.permissions import organisation_require_member

UNSET = object()  # a member the caller does not change
STATE_MEMBERS = ("folder_pk", "recursive", "filter", "q", "sort", "layout", "columns")


@transaction.atomic
def saved_view_create(*, user: User, organisation: Organisation, name: str, shared: bool = False,
                      folder_pk=None, recursive: bool = True, filter=None, q: str | None = None, sort=None,
                      layout: str = ViewLayout.GRID, columns=()) -> SavedView:
    """Save a state under ``name`` for ``user`` in ``organisation`` (a member of it, else 404), private
    unless ``shared``. Field-keyed ``ServiceValidationError`` for a taken name or a state the search
    would refuse."""
    organisation_require_member(user=user, organisation=organisation)
    state = view_state_check(user=user, organisation=organisation, folder_pk=folder_pk, recursive=recursive,
                             filter=filter, q=q, sort=sort, layout=layout, columns=columns)
    view = SavedView(organisation=organisation, owner=user, name=_name_checked(name), shared=_shared_checked(shared),
                     **_state_fields(state))
    _save(view)
    return view


def saved_view_rename(*, user: User, view: SavedView, name: str) -> SavedView:
    """Give the view another name (owner only)."""
    return saved_view_update(user=user, view=view, name=name)


@transaction.atomic
def saved_view_update(*, user: User, view: SavedView, name=UNSET, shared=UNSET, folder_pk=UNSET,
                      recursive=UNSET, filter=UNSET, q=UNSET, sort=UNSET, layout=UNSET, columns=UNSET) -> SavedView:
    """Change what is given (owner only; ``PermissionDenied`` for anyone else who sees the view). The
    whole resulting state is checked again, against the schema as it is now."""
    if not saved_view_can_change(user=user, view=view):
        raise PermissionDenied("Only the owner of a saved view changes it.")
    view = SavedView.objects.select_for_update().select_related("organisation").get(pk=view.pk)
    given = {"folder_pk": folder_pk, "recursive": recursive, "filter": filter, "q": q, "sort": sort,
             "layout": layout, "columns": columns}
    if any(value is not UNSET for value in given.values()):
        # The state as it will be, checked whole: a new sort must fit the stored filter's schema too.
        current = {"folder_pk": view.scope_folder_id, "recursive": view.recursive, "filter": view.filter,
                   "q": view.q, "sort": view.sort, "layout": view.layout, "columns": view.columns}
        state = view_state_check(user=user, organisation=view.organisation,
                                 **{member: current[member] if given[member] is UNSET else given[member]
                                    for member in STATE_MEMBERS})
        for field, value in _state_fields(state).items():
            setattr(view, field, value)
    if name is not UNSET:
        view.name = _name_checked(name)
    if shared is not UNSET:
        view.shared = _shared_checked(shared)
    _save(view)
    return view


@transaction.atomic
def saved_view_delete(*, user: User, view: SavedView) -> None:
    """Delete the view: its owner, or an admin of its organisation when it is shared."""
    if not saved_view_can_delete(user=user, view=view):
        raise PermissionDenied("Only the owner deletes a saved view (or an organisation admin, a shared one).")
    SavedView.objects.filter(pk=view.pk).delete()


def _name_checked(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ServiceValidationError({"name": "A saved view needs a name."})
    name = name.strip()
    if len(name) > NAME_MAX:
        raise ServiceValidationError({"name": f"A name has at most {NAME_MAX} characters."})
    return name


def _shared_checked(shared) -> bool:
    if not isinstance(shared, bool):
        raise ServiceValidationError({"shared": "true (every member of the organisation sees it) or false."})
    return shared


def _state_fields(state) -> dict:
    return {"scope_folder": state.scope_folder, "recursive": state.recursive, "filter": state.filter,
            "q": state.q, "sort": state.sort, "layout": state.layout, "columns": state.columns}


def _save(view: SavedView) -> None:
    """Save, turning a name clash (checked first, held by the constraints under a race) into a ``name`` error."""
    _refuse_taken_name(view)
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError as exc:
        if "unique_saved_view_name_per_owner" in str(exc) or "unique_shared_saved_view_name" in str(exc):
            _refuse_taken_name(view, raced=True)
        raise


def _refuse_taken_name(view: SavedView, *, raced: bool = False) -> None:
    others = (SavedView.objects.filter(organisation_id=view.organisation_id).alias(folded=Lower("name"))
              .filter(folded=Lower(Value(view.name))).exclude(pk=view.pk))  # the constraints' own folding
    if others.filter(owner_id=view.owner_id).exists():
        raise ServiceValidationError({"name": f'You already have a saved view named "{view.name}" '
                                              "in this organisation."})
    if view.shared and others.filter(shared=True).exists():
        raise ServiceValidationError({"name": f'A view shared with the organisation is already named "{view.name}".'})
    if raced:
        raise ServiceValidationError({"name": f'A saved view named "{view.name}" was saved at the same time.'})
