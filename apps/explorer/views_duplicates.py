"""The Duplicates page (``/explore/duplicates/``): the current groups of a method, a scan at a chosen
threshold, and "keep this one, trash the rest" per group.

Thin: the groups come from ``selectors_duplicates`` (only items the user may see), scans and
resolving from ``services_duplicates`` (the storage trash service: editors only). A POST that is
refused comes back to the page with the reason as a message and changes nothing.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import ServiceValidationError
from apps.core.pagination import PageTokenError
from apps.explorer.selectors import explore_scope
from apps.explorer.views import page_organisation
from apps.metadata.models import KeyState, MetadataKey
from apps.similarity.models_duplicates import DuplicateMethod
from apps.similarity.selectors_duplicates import (
    duplicate_group_get, duplicate_groups_page, duplicate_scan_current, duplicate_scans,
)
from apps.similarity.services_duplicates import (
    EMBEDDING_THRESHOLD_DEFAULT, HASH_THRESHOLD_DEFAULT, HASH_THRESHOLD_MAX, duplicate_group_resolve,
    duplicate_method_key, duplicate_scan_start,
)
from apps.storage.models import Folder, FolderRole
from apps.storage.permissions import folder_role
from apps.storage.views_items import item_thumbnail_url

PAGE_GROUPS = 20


def _choice(organisation, params) -> tuple[str, MetadataKey | None, list[str]]:
    """(method, key, errors) the query string names; the hash method when it names nothing usable."""
    try:
        method, key = duplicate_method_key(organisation=organisation, method=params.get("method") or "hash",
                                           key_name=params.get("key") or None)
        return method, key, []
    except ServiceValidationError as exc:
        return DuplicateMethod.HASH, None, [str(m) for ms in exc.message_dict.values() for m in ms]


def _editor_of(user, folder_ids, cache: dict) -> bool:
    for folder_id in folder_ids:
        if folder_id not in cache:
            folder = Folder.objects.filter(pk=folder_id).first()
            role = folder_role(user=user, folder=folder) if folder else None
            cache[folder_id] = role is not None and FolderRole.rank(role) >= FolderRole.rank(FolderRole.EDITOR)
        if not cache[folder_id]:
            return False
    return True


@require_GET
def duplicates(request):
    organisation = page_organisation(request, request.GET.get("organisation", "")[:64])
    if organisation is None:
        return render(request, "explorer/duplicates.html", {"organisation": None})
    method, key, errors = _choice(organisation, request.GET)
    latest = duplicate_scans(organisation=organisation, method=method, key=key).first()
    current = duplicate_scan_current(organisation=organisation, method=method, key=key)
    groups, next_token = [], None
    visible = explore_scope(user=request.user, organisation=organisation)
    if current is not None:
        try:
            page = duplicate_groups_page(scan=current, visible_items=visible,
                                         token=request.GET.get("after") or None, page_size=PAGE_GROUPS)
            groups, next_token = page.groups, page.next_token
        except PageTokenError:
            errors.append("That page link is out of date; showing the first page.")
            page = duplicate_groups_page(scan=current, visible_items=visible, page_size=PAGE_GROUPS)
            groups, next_token = page.groups, page.next_token
    editors: dict = {}
    for group in groups:
        for member in group.shown_members:
            member.thumb_url = item_thumbnail_url(member.item)
        group.can_resolve = _editor_of(request.user, {m.item.folder_id for m in group.shown_members}, editors)
    base = {"organisation": organisation.pk, "method": method, **({"key": key.name} if key else {})}
    default = HASH_THRESHOLD_DEFAULT if method == DuplicateMethod.HASH else EMBEDDING_THRESHOLD_DEFAULT
    context = {
        "organisation": organisation, "method": method, "key": key, "latest": latest, "current": current,
        "groups": groups, "errors": errors, "here": f"{reverse('explorer:duplicates')}?{urlencode(base)}",
        "next_url": f"{reverse('explorer:duplicates')}?{urlencode({**base, 'after': next_token})}"
        if next_token else "",
        "threshold": _shown_threshold(method, current.threshold if current else default),
        "hash_max": HASH_THRESHOLD_MAX,
        "embedding_keys": MetadataKey.objects.filter(organisation=organisation, type="embedding",
                                                     state=KeyState.ACTIVE).order_by("name"),
        "running": latest is not None and not latest.is_finished,
    }
    return render(request, "explorer/duplicates.html", context)


@require_POST
def duplicates_scan(request):
    organisation = page_organisation(request, request.POST.get("organisation", "")[:64])
    if organisation is None:
        raise Http404("No organisation.")
    method, key_name = request.POST.get("method", ""), request.POST.get("key") or None
    if method.startswith("key:"):  # the page's one select names an embedding key as "key:<name>"
        method, key_name = DuplicateMethod.EMBEDDING, method[4:]
    try:
        duplicate_scan_start(user=request.user, organisation=organisation, method=method, key_name=key_name,
                             threshold=request.POST.get("threshold"))
    except ServiceValidationError as exc:
        for place, problems in exc.message_dict.items():
            messages.error(request, f"{place}: {' '.join(problems)}")
    else:
        messages.info(request, "Looking for duplicates; this page refreshes when the scan is done.")
    query = {"organisation": organisation.pk, "method": method if method in DuplicateMethod.values else "hash",
             **({"key": key_name} if key_name else {})}
    return redirect(f"{reverse('explorer:duplicates')}?{urlencode(query)}")


@require_POST
def duplicates_resolve(request, group: int):
    organisation = page_organisation(request, request.POST.get("organisation", "")[:64])
    back = request.POST.get("next", "")
    back = back if back.startswith(reverse("explorer:duplicates")) else reverse("explorer:duplicates")
    visible = explore_scope(user=request.user, organisation=organisation) if organisation else None
    found = duplicate_group_get(organisation=organisation, pk=group, visible_items=visible) if organisation else None
    if found is None:
        raise Http404("No such duplicate group.")
    kept = visible.filter(pk=request.POST.get("keep", "")).first() if _is_uuid(request.POST.get("keep")) else None
    try:
        if kept is None:
            raise ServiceValidationError({"keep": "Keep one of the group's items."})
        trashed, _ = duplicate_group_resolve(user=request.user, group=found, keep=kept, visible_items=visible)
    except ServiceValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    except PermissionDenied as exc:
        messages.error(request, f"Nothing was trashed: {exc}")
    else:
        messages.info(request, f"Kept {kept.display_name}; moved {trashed} other item{'s' if trashed != 1 else ''} "
                               "to the trash.")
    return redirect(back)


def _shown_threshold(method: str, value: float):
    return int(value) if method == DuplicateMethod.HASH else value


def _is_uuid(text) -> bool:
    import uuid

    try:
        uuid.UUID(str(text))
    except ValueError:
        return False
    return True
