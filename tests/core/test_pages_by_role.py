"""Every page of the navigation, and every page linked from those (followed until nothing new turns
up), answers as each role: 200, or the documented answer for a page the role may not use (404 for a
folder one was not granted, the admin's login redirect for non-staff).

Also every template compiles: a tag library a template forgot to ``{% load %}`` (what made the API
tokens and SSH keys pages 500 once django-template-partials stopped adding itself as a builtin) fails
here for every template, linked or not.
"""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import get_template
from django.urls import Resolver404, resolve

from apps.storage.models import FolderRole, ImportJob, Item
from apps.storage.services.folders import folder_create, folder_member_set, folder_trash
from apps.imports.services.imports import import_job_run
from apps.storage.services.integrations import integration_builtin_get_or_create
from tests.media_factory import make_jpeg

NAV = ["/", "/explore/", "/trash/", "/metadata/schema/", "/organisation/members/", "/account/tokens/", "/integrations/",
       "/account/keys/", "/api/docs", "/api/schema", "/admin/"]
ROLES = ["superuser", "org_admin", "folder_admin", "folder_editor", "folder_viewer", "no_folders", "anonymous"]
HREF = re.compile(r'href="([^"]+)"')
# Links that are not pages: assets, and the API schema the docs page loads (checked as a page anyway).
NOT_PAGES = ("/static/", "/media/")
MAX_PAGES_PER_ROLE = 400


def test_every_template_compiles():
    names = sorted(str(path.relative_to(settings.BASE_DIR / "templates"))
                   for path in (settings.BASE_DIR / "templates").rglob("*.html"))
    failures = {}
    for name in names:
        try:
            get_template(name)
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its template
            failures[name] = str(exc)
    assert len(names) > 10
    assert failures == {}


def _register(user, folder, document: dict) -> ImportJob:
    """An import run in this process (no worker: nothing is left running at teardown)."""
    job = ImportJob(organisation=folder.organisation, folder=folder, created_by=user, file_name="pages.json",
                    integration=integration_builtin_get_or_create(organisation=folder.organisation))
    job.source.save(f"{job.pk}.json", ContentFile(json.dumps(document).encode()), save=False)
    job.save()
    import_job_run(job_id=job.pk)
    return job


@pytest.fixture
def site(org, make_user, test_files):
    """One organisation with a folder tree, items, an import job and a trashed folder, and a user per role."""
    users = {
        "superuser": make_user(org, role="admin", email="root@example.com"),
        "org_admin": make_user(org, role="admin", email="orgadmin@example.com"),
        "folder_admin": make_user(org, email="fadmin@example.com"),
        "folder_editor": make_user(org, email="editor@example.com"),
        "folder_viewer": make_user(org, email="viewer@example.com"),
        "no_folders": make_user(org, email="nobody@example.com"),
    }
    users["superuser"].is_staff = users["superuser"].is_superuser = True
    users["superuser"].save()
    owner = users["org_admin"]
    top = folder_create(user=owner, name="Dashcam", organisation=org)
    sub = folder_create(user=owner, name="Site 1", parent=top)
    trashed = folder_create(user=owner, name="Old", parent=top)
    for role in ("admin", "editor", "viewer"):
        folder_member_set(user=owner, folder=top, member=users[f"folder_{role}"], role=FolderRole(role))
    image = make_jpeg(test_files / "a.jpg")
    text = test_files / "notes.txt"
    text.write_text("hello\n")
    job = _register(owner, sub, {
        "images": [{"objectUrl": image.as_uri(), "title": "a.jpg", "clientMetadata": {"k": 1},
                    "imageMetadata": {"mime_type": "image/jpeg", "file_size": image.stat().st_size,
                                      "width": 64, "height": 48}}],
        "text": [{"objectUrl": text.as_uri(), "title": "notes.txt"}],
    })
    folder_trash(user=owner, folder=trashed)
    items = list(Item.objects.filter(import_job=job).order_by("import_index"))
    assert len(items) == 2
    private = [f"/folders/{top.pk}/", f"/folders/{sub.pk}/", f"/folders/{sub.pk}/jobs", f"/imports/{job.pk}/",
               *[f"/items/{item.pk}/" for item in items], f"/metadata/items/{items[0].pk}/history"]
    return {"users": users, "private": private}


def _page_key(path: str) -> str:
    """One visit per URL pattern (one folder page, one admin change list per model...), not per object."""
    try:
        match = resolve(path)
    except Resolver404:
        return path
    return match.view_name or match.route


def _links(html: str) -> list[str]:
    found = []
    for href in HREF.findall(html):
        parts = urlsplit(unescape(href))
        if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith(NOT_PAGES):
            continue
        found.append(parts.path)
    return found


def _expected(role: str, path: str, private: list[str]) -> int:
    if role == "anonymous":
        if path.startswith("/api/"):
            return 401  # the API's answer to missing credentials (README: API)
        return 200 if path == "/login/" else 302  # every other page but the login page asks to log in
    if path.startswith("/admin/r/"):
        return 302  # the admin's "view on site": a redirect to the object's page (visited next)
    if path.startswith("/admin/"):
        return 200 if role == "superuser" else 302  # non-staff: to the admin's login
    if role == "no_folders" and path in private:
        return 404  # a folder one was not granted is not revealed
    return 200


def _crawl(client, role: str, private: list[str]) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """Visit the navigation, the role's known pages and everything linked; returns visits and mismatches."""
    queue = [*NAV, *private]
    seen_keys: set[str] = set()
    visited: dict[str, int] = {}
    wrong: dict[str, tuple[int, int]] = {}
    while queue and len(visited) < MAX_PAGES_PER_ROLE:
        path = queue.pop(0)
        forced = path in NAV or path in private
        key = _page_key(path)
        if path in visited or (key in seen_keys and not forced):
            continue
        seen_keys.add(key)
        response = client.get(path)
        visited[path] = response.status_code
        expected = _expected(role, path, private)
        if response.status_code != expected:
            wrong[path] = (response.status_code, expected)
        if response.status_code == 302 and not urlsplit(response["Location"]).path.startswith("/admin/login"):
            queue.append(urlsplit(response["Location"]).path)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            queue.extend(_links(response.content.decode("utf-8", "replace")))
    return visited, wrong


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_as_each_role(client, site, role):
    if role != "anonymous":
        client.force_login(site["users"][role])

    visited, wrong = _crawl(client, role, site["private"])

    assert wrong == {}
    assert set(NAV) <= set(visited)
    assert set(site["private"]) <= set(visited)
    assert visited["/admin/"] == (200 if role == "superuser" else 302)
    if role == "anonymous":
        assert visited["/login/"] == 200
    print(f"{role}: {len(visited)} pages", *(f"{status} {path}" for path, status in sorted(visited.items())),
          sep="\n  ")


@pytest.mark.parametrize("role", ROLES)
def test_members_page_as_each_role(client, site, role):
    """Every member reads the organisation's members; only its admins get the add, role and remove forms."""
    if role != "anonymous":
        client.force_login(site["users"][role])

    response = client.get("/organisation/members/")

    if role == "anonymous":
        assert (response.status_code, response["Location"]) == (302, "/login/?next=/organisation/members/")
        return
    html = response.content.decode()
    manages = role in ("superuser", "org_admin")  # both are admins of the organisation
    assert response.status_code == 200
    assert html.count('<tr data-user="') == 6
    assert ('id="member-add-form"' in html, html.count(">Remove</button>"), html.count(">Change</button>")) == (
        (True, 6, 6) if manages else (False, 0, 0))
    assert '<a href="/organisation/members/">Members</a>' in html
