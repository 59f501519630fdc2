"""Access ends the moment a person leaves an organisation or is deactivated, by whatever path.

A matrix of removal paths (the members page, the REST API, the Django admin, a shell queryset, a saved
or updated user row) against every door that reaches a folder (REST, pages, content and previews, an
Encord route), over real HTTP to the live test server with the token and session the person held
before. Expected, as the README says: a removed member is a stranger to the folder (404, the folder's
existence is not revealed; their folder listing is empty); a deactivated user's credentials are
refused (401 on the API and Encord routes, a redirect to the login page for pages). A refused request
changes nothing.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client
from django.utils import timezone

from apps.core.models import OrganisationMember, User
from apps.core.services import api_token_create, organisation_member_set
from apps.metadata.models_jobs import MetadataJob
from apps.metadata.records import MetadataChange
from apps.metadata.services.derived import metadata_with_vectors
from apps.metadata.services.updates import item_metadata_merge
from apps.storage.models import Folder, FolderMember, FolderRole, ImportJob, Item, ItemType
from apps.storage.services.folders import folder_create, folder_member_set
from apps.storage.services.integrations import integration_builtin_get_or_create
from tests.factories import OrganisationFactory


@pytest.fixture
def world(transactional_db, org, make_user, api_for, live_server, test_files):
    """Acme's tree ``top/sub`` with an item (a local file, a preview, a metadata change to revert) and
    an import job; ``leaver`` is an editor of ``top`` who holds an API token and a browser session."""
    owner = make_user(org, email="owner@example.com")
    leaver = make_user(org, email="leaver@example.com")
    org_admin = make_user(org, role="admin", email="orgadmin@example.com")
    superuser = User.objects.create_superuser("root@example.com", "pw-for-tests-1")
    organisation_member_set(organisation=OrganisationFactory(name="Elsewhere"), user=leaver, role="member")
    top = folder_create(user=owner, name="top", organisation=org)
    sub = folder_create(user=owner, name="sub", parent=top)
    folder_member_set(user=owner, folder=top, member=leaver, role=FolderRole.EDITOR)
    (test_files / "a.txt").write_text("hello")
    item = Item.objects.create(organisation=org, folder=sub, item_type=ItemType.TEXT, name="a.txt",
                               url=(test_files / "a.txt").as_uri(), mime_type="text/plain",
                               integration=integration_builtin_get_or_create(organisation=org))
    item.preview = default_storage.save(f"previews/{item.pk}/thumb.jpg", ContentFile(b"\xff\xd8\xff thumb"))
    item.save(update_fields=["preview"])
    item_metadata_merge(user=owner, item=item, patch={"site": "Algiers"})
    job = ImportJob.objects.create(  # never sent to a worker: it stays PENDING
        organisation=org, folder=sub, integration=integration_builtin_get_or_create(organisation=org),
        created_by=owner, source="imports/removal.json", file_name="removal.json",
    )
    metadata_job = MetadataJob(organisation=org, folder=sub, created_by=leaver, file_name="m.csv", file_format="csv")
    metadata_job.source.save("m.csv", ContentFile(b"uuid,site\n"), save=False)
    metadata_job.save()  # never sent to a worker: it stays PENDING
    # As if both messages waited in a busy queue: a worker left running by an earlier test sweeps for
    # PENDING jobs older than the (5 s) staleness window, and would otherwise run them mid-test.
    waiting = timezone.now() + timedelta(days=1)
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=waiting)
    MetadataJob.objects.filter(pk=metadata_job.pk).update(heartbeat_at=waiting)
    api = api_for(leaver)
    browser = _browser(live_server, leaver)
    return {"org": org, "owner": owner, "leaver": leaver, "superuser": superuser, "top": top, "sub": sub,
            "item": item, "job": job, "mjob": metadata_job, "api": api, "browser": browser,
            "base": live_server.url, "change": MetadataChange.objects.get(item=item), "owner_api": api_for(owner),
            "org_admin": org_admin, "admin_api": api_for(org_admin), "live_server": live_server}


def _browser(live_server, user) -> requests.Session:
    """A ``requests`` session carrying a real login session cookie for ``user``."""
    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    return session


# --------------------------------------------------------------------------- removal paths


def _admin_client(world) -> Client:
    client = Client()
    client.force_login(world["superuser"])
    return client


def remove_in_admin(world):
    """The Django admin: tick "delete" on the leaver's row of the organisation's members inline."""
    org, leaver = world["org"], world["leaver"]
    rows = list(OrganisationMember.objects.filter(organisation=org).order_by("pk"))
    data = {"name": org.name, "members-TOTAL_FORMS": str(len(rows)), "members-INITIAL_FORMS": str(len(rows)),
            "members-MIN_NUM_FORMS": "0", "members-MAX_NUM_FORMS": "1000"}
    for n, row in enumerate(rows):
        data |= {f"members-{n}-id": str(row.pk), f"members-{n}-organisation": str(org.pk),
                 f"members-{n}-user": str(row.user_id), f"members-{n}-role": row.role}
        if row.user_id == leaver.pk:
            data[f"members-{n}-DELETE"] = "on"
    response = _admin_client(world).post(f"/admin/core/organisation/{org.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]


def remove_in_shell(world):
    """A shell (or a script): a raw queryset delete that no service sees."""
    OrganisationMember.objects.filter(organisation=world["org"], user=world["leaver"]).delete()


def deactivate_in_admin(world):
    """The Django admin: untick "active" on the user's change form."""
    leaver = world["leaver"]
    joined = leaver.date_joined
    data = {"email": leaver.email, "name": leaver.name, "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"), "last_login_0": "", "last_login_1": ""}
    response = _admin_client(world).post(f"/admin/core/user/{leaver.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]


def deactivate_in_shell(world):
    """A shell: ``user.is_active = False; user.save()``."""
    user = User.objects.get(pk=world["leaver"].pk)
    user.is_active = False
    user.save()


def deactivate_by_update(world):
    """A bulk ``update()``: no ``save()``, no signals."""
    User.objects.filter(pk=world["leaver"].pk).update(is_active=False)


def remove_from_every_organisation(world):
    """A shell: the person's memberships of every organisation at once (they belong to one more)."""
    OrganisationMember.objects.filter(user=world["leaver"]).delete()


def delete_user_in_admin(world):
    """The Django admin: delete the user (their tokens, keys and memberships go with them)."""
    response = _admin_client(world).post(f"/admin/core/user/{world['leaver'].pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]


def remove_on_members_page(world):
    """The members page, as an organisation admin's browser does it: load the page (for the CSRF cookie),
    then post the row's "Remove" form with the token, as htmx does after the confirmation."""
    browser = _browser(world["live_server"], world["org_admin"])
    page = browser.get(world["base"] + "/organisation/members/", timeout=30)
    assert page.status_code == 200 and "leaver@example.com" in page.text
    token = browser.cookies["csrftoken"]
    response = browser.post(world["base"] + f"/organisation/members/{world['leaver'].pk}/remove",
                            data={"csrfmiddlewaretoken": token, "organisation": str(world["org"].pk)},
                            headers={"HX-Request": "true"}, timeout=30)
    assert response.status_code == 200, response.text[:2000]
    assert "leaver@example.com" not in response.text


def remove_through_the_api(world):
    """The REST API, with an organisation admin's token: ``DELETE /api/v1/organisation/members/<user id>``."""
    response = world["admin_api"].delete(f"/api/v1/organisation/members/{world['leaver'].pk}")
    assert response.status_code == 204, response.text[:2000]


REMOVALS = {"admin_member_delete": remove_in_admin, "shell_member_delete": remove_in_shell,
            "page_member_remove": remove_on_members_page, "api_member_remove": remove_through_the_api,
            "shell_all_memberships_delete": remove_from_every_organisation,
            "admin_deactivate": deactivate_in_admin, "shell_deactivate": deactivate_in_shell,
            "queryset_deactivate": deactivate_by_update, "admin_user_delete": delete_user_in_admin}
DEACTIVATIONS = frozenset({"admin_deactivate", "shell_deactivate", "queryset_deactivate", "admin_user_delete"})


# --------------------------------------------------------------------------- endpoints


def _rest(method, path, **kwargs):
    return lambda w: getattr(w["api"], method)(path.format(**w), **kwargs)


def _page(path):
    return lambda w: w["browser"].get(w["base"] + path.format(**w), allow_redirects=False, timeout=30)


def _encord(path):
    return lambda w: requests.get(w["base"] + "/v2/public" + path.format(**w),
                                  headers=w["api"].session.headers, timeout=30)


# name: (kind, call, status while a member)
ENDPOINTS = {
    "rest_folder_list": ("rest", _rest("get", "/api/v1/folders"), 200),
    "rest_folder_detail": ("rest", _rest("get", "/api/v1/folders/{sub.pk}"), 200),
    "rest_folder_children": ("rest", _rest("get", "/api/v1/folders?parent={top.pk}"), 200),
    "rest_folder_members": ("rest", _rest("get", "/api/v1/folders/{top.pk}/members"), 200),
    "rest_folder_items": ("rest", _rest("get", "/api/v1/folders/{sub.pk}/items"), 200),
    "rest_item_detail": ("rest", _rest("get", "/api/v1/items/{item.pk}"), 200),
    "rest_metadata_read": ("rest", _rest("get", "/api/v1/items/{item.pk}/metadata"), 200),
    "rest_metadata_write": ("rest", _rest("put", "/api/v1/items/{item.pk}/metadata", json={"site": "Oran"}), 200),
    "rest_metadata_history": ("rest", _rest("get", "/api/v1/items/{item.pk}/metadata/history"), 200),
    "rest_metadata_revert": ("rest", _rest("post", "/api/v1/items/{item.pk}/metadata/history/{change.pk}/revert"),
                             200),
    "rest_import": ("rest", _rest("post", "/api/v1/folders/{sub.pk}/imports", json={"images": []}), 202),
    "rest_import_job": ("rest", _rest("get", "/api/v1/imports/{job.pk}"), 200),
    "rest_import_errors": ("rest", _rest("get", "/api/v1/imports/{job.pk}/errors"), 200),
    "rest_import_cancel": ("rest", _rest("post", "/api/v1/imports/{job.pk}/cancel"), 200),
    "rest_metadata_job_read": ("rest", _rest("get", "/api/v1/metadata/jobs/{mjob.pk}"), 200),
    "rest_metadata_job_cancel": ("rest", _rest("post", "/api/v1/metadata/jobs/{mjob.pk}/cancel"), 200),
    "rest_items_trash": ("rest", lambda w: w["api"].post("/api/v1/items/trash",
                                                         json={"items": [str(w["item"].pk)]}), 200),
    "rest_folder_trash": ("rest", _rest("delete", "/api/v1/folders/{sub.pk}"), 403),  # editors may not
    "rest_metadata_job": ("rest", lambda w: w["api"].post(
        "/api/v1/metadata/jobs", data={"folder": str(w["sub"].pk)},
        files={"file": ("m.csv", b"uuid,site\n", "text/csv")}), 202),
    "page_folder": ("page", _page("/folders/{sub.pk}/"), 200),
    "page_folder_jobs": ("page", _page("/folders/{sub.pk}/jobs"), 200),
    "page_import_job": ("page", _page("/imports/{job.pk}/"), 200),
    "page_import_errors_csv": ("page", _page("/imports/{job.pk}/errors.csv"), 200),
    "page_item": ("page", _page("/items/{item.pk}/"), 200),
    "page_item_content": ("page", _page("/items/{item.pk}/content"), 200),
    "page_item_preview": ("page", _page("/items/{item.pk}/preview"), 200),
    "page_item_history": ("page", _page("/metadata/items/{item.pk}/history"), 200),
    "encord_folder": ("encord", _encord("/storage/folders/{sub.pk}"), 200),
    "encord_item": ("encord", _encord("/storage/items/{item.pk}"), 200),
    "encord_folder_items": ("encord", _encord("/storage/folders/{sub.pk}/items"), 200),
}
# Starting a job queues it; while a member, these need the session's worker (see _worker_for).
STARTS_JOBS = frozenset({"rest_import", "rest_metadata_job"})


def _expected_after(removal: str, kind: str, endpoint: str) -> int:
    if removal in DEACTIVATIONS:
        return 302 if kind == "page" else 401
    if endpoint in ("rest_folder_list",):
        return 200  # the listing answers, empty (asserted below)
    return 404


def _snapshot():
    return (
        sorted((str(f.pk), f.name, str(f.parent_id), bool(f.deleted_at)) for f in Folder.objects.all()),
        sorted((str(i.pk), i.name, str(i.folder_id), bool(i.deleted_at)) for i in Item.objects.all()),
        sorted((str(j.pk), j.status) for j in ImportJob.objects.all()),
        sorted((str(pk), json.dumps(m, sort_keys=True)) for pk, m in metadata_with_vectors(Item.objects.all()).items()),
        MetadataChange.objects.count(),
    )


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_endpoint_answers_the_member(world, endpoint, request):
    """The baseline: before the removal each endpoint serves the leaver (so a 404 later means something)."""
    kind, call, status = ENDPOINTS[endpoint]
    if endpoint in STARTS_JOBS:
        request.getfixturevalue("celery_worker_process")
    response = call(world)
    assert response.status_code == status, response.text[:500]
    if endpoint in STARTS_JOBS:
        _wait_finished(response.json()["uuid"], endpoint)


def _wait_finished(job_uuid: str, endpoint: str) -> None:
    """Let the session's worker finish the job before teardown truncates the tables (they would deadlock)."""
    import time

    model = MetadataJob if endpoint == "rest_metadata_job" else ImportJob
    deadline = time.monotonic() + 30
    while not model.objects.get(pk=job_uuid).is_finished:
        assert time.monotonic() < deadline, f"{endpoint}: job {job_uuid} did not finish"
        time.sleep(0.05)


@pytest.mark.parametrize("removal", list(REMOVALS))
def test_removal_ends_access_everywhere(world, removal):
    REMOVALS[removal](world)
    before = _snapshot()

    answers = {}
    for endpoint, (kind, call, _status) in ENDPOINTS.items():
        response = call(world)
        answers[endpoint] = response.status_code
        if endpoint == "rest_folder_list" and response.status_code == 200:
            answers["rest_folder_list_names"] = [f["name"] for f in response.json()]

    expected = {endpoint: _expected_after(removal, kind, endpoint) for endpoint, (kind, *_) in ENDPOINTS.items()}
    if removal not in DEACTIVATIONS:
        expected["rest_folder_list_names"] = []
    assert answers == expected
    assert _snapshot() == before
    assert MetadataJob.objects.get(pk=world["mjob"].pk).cancel_requested is False
    # The others keep their access.
    assert world["owner_api"].get(f"/api/v1/items/{world['item'].pk}/metadata").status_code == 200


def test_deactivated_users_ssh_key_is_refused(world, tmp_path):
    """Signed (Encord SDK) requests with the key of a deactivated user: 401 before any view runs."""
    from encord.http.v2.request_signer import sign_request

    from apps.core.services import public_key_add
    from tests.encord_compat.conftest import make_key

    _path, public_line, private = make_key(tmp_path)
    public_key_add(user=world["leaver"], openssh=public_line)
    url = f"{world['base']}/v2/public/storage/folders/{world['sub'].pk}"

    def signed_get():
        prepared = requests.Request("GET", url).prepare()
        with requests.Session() as session:
            return session.send(sign_request(prepared, private.public_key().public_bytes_raw().hex(), private),
                                timeout=30)

    assert signed_get().status_code == 200
    remove_in_shell(world)
    assert signed_get().status_code == 404
    deactivate_by_update(world)
    assert signed_get().status_code == 401


@pytest.mark.parametrize("removal", ["admin_member_delete", "shell_member_delete", "page_member_remove",
                                     "api_member_remove"])
def test_rejoining_does_not_revive_old_folder_roles(world, removal):
    """Folder roles end with the organisation membership they were given under, whatever removed it:
    someone re-added to the organisation later starts with no folder roles."""
    REMOVALS[removal](world)
    assert FolderMember.objects.filter(user=world["leaver"]).count() == 0
    organisation_member_set(organisation=world["org"], user=world["leaver"], role="member")

    assert world["api"].get(f"/api/v1/folders/{world['sub'].pk}").status_code == 404
    assert world["api"].get("/api/v1/folders").json() == []


def test_admin_cannot_give_a_folder_role_to_someone_outside_the_organisation(world, make_user):
    """A folder role needs a membership of the folder's organisation, at every door (the admin too)."""
    outsider = make_user(OrganisationFactory(name="Elsewhere"), email="outsider@example.com")
    organisation_member_set(organisation=world["org"], user=world["superuser"], role="admin")  # may edit the folder
    top = world["top"]
    data = {"name": top.name, "description": "", "client_metadata": "{}",
            "members-TOTAL_FORMS": "1", "members-INITIAL_FORMS": "0", "members-MIN_NUM_FORMS": "0",
            "members-MAX_NUM_FORMS": "1000", "members-0-folder": str(top.pk), "members-0-user": str(outsider.pk),
            "members-0-role": "viewer"}
    before = sorted(FolderMember.objects.values_list("user__email", "role"))

    response = _admin_client(world).post(f"/admin/storage/folder/{top.pk}/change/", data)

    assert response.status_code == 200  # the form again, with the error
    assert "That user is not in this folder" in response.content.decode()
    assert sorted(FolderMember.objects.values_list("user__email", "role")) == before
    outsider_api = requests.Session()
    outsider_api.headers["Authorization"] = f"Token {api_token_create(user=outsider, name='t')[1]}"
    assert outsider_api.get(f"{world['base']}/api/v1/folders/{world['sub'].pk}", timeout=30).status_code == 404


@pytest.mark.parametrize("scope", ["folder", "organisation"])
def test_a_removed_members_metadata_job_stops_without_writing(world, scope):
    """Jobs run with their submitter's access as it is when they run, not as it was when submitted."""
    from apps.metadata.services.jobs import metadata_job_run

    item = world["item"]
    job = MetadataJob(organisation=world["org"], folder=world["sub"] if scope == "folder" else None,
                      created_by=world["leaver"], file_name="m.csv", file_format="csv")
    job.source.save("m2.csv", ContentFile(f"uuid,site\n{item.pk},Oran\n".encode()), save=False)
    job.save()
    remove_in_shell(world)
    before = _snapshot()

    job = metadata_job_run(job_id=job.pk)

    assert (job.status, job.error.startswith("Stopped: ")) == ("ERROR", True)
    assert _snapshot() == before


@pytest.mark.parametrize("removal", ["organisation_membership_deleted", "user_deactivated", "folder_role_removed"])
def test_a_removed_members_import_job_stops_without_registering(world, removal):
    """An import job queued by a member who then leaves (or is deactivated, or loses the folder) ends in
    ERROR with the reason before its first batch: nothing is registered in their name."""
    from apps.imports.services.imports import import_job_create_from_data, import_job_run

    document = {"images": [{"objectUrl": f"https://cdn.example.com/{n}.jpg", "title": f"{n}.jpg",
                            "imageMetadata": {"mime_type": "image/jpeg", "file_size": 10, "width": 4,
                                              "height": 3}} for n in range(3)]}
    items_before = Item.objects.count()
    with transaction.atomic():  # the job is queued on commit: by then its submitter has lost access
        job = import_job_create_from_data(user=world["leaver"], folder=world["sub"], data=document)
        if removal == "organisation_membership_deleted":
            remove_in_shell(world)
        elif removal == "user_deactivated":
            User.objects.filter(pk=world["leaver"].pk).update(is_active=False)
        else:
            FolderMember.objects.filter(user=world["leaver"]).delete()

    import_job_run(job_id=job.pk)  # here, or in a session worker that took the queued task first
    deadline = time.monotonic() + 30
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()

    assert (job.status, job.error.startswith("Stopped: "), job.registered) == ("ERROR", True, 0)
    assert Item.objects.count() == items_before
