"""Import jobs through the REST API over real HTTP, run by a real Celery worker process; and the
storage-integration endpoints.

Images carry ``imageMetadata``, so the worker registers them without fetching or probing anything.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from rest_framework.fields import DateTimeField

from apps.core.crypto import decrypt
from apps.core.models import OrganisationRole
from apps.storage.models import ImportJob, ImportJobStatus, Item, StorageIntegration
from apps.storage.services.folders import folder_create, folder_member_set
from apps.storage.services.imports import import_job_run
from apps.storage.services.integrations import BUILTIN_NAME, integration_builtin_get_or_create
from tests.factories import OrganisationFactory

JOB_TIMEOUT_S = 30


@pytest.fixture
def alice(transactional_db, org, make_user):
    return make_user(org, email="alice@example.com")


@pytest.fixture
def folder(alice, org):
    return folder_create(user=alice, name="data", organisation=org)


def _image(n: int, **extra) -> dict:
    return {"objectUrl": f"https://cdn.example.com/img/{n}.jpg",
            "imageMetadata": {"mime_type": "image/jpeg", "file_size": 1000 + n, "width": 640, "height": 480},
            "clientMetadata": {"n": n}} | extra


def _upload(api, folder, data: dict, name: str = "import.json", **fields):
    files = {"file": (name, json.dumps(data).encode(), "application/json")}
    return api.post(f"/api/v1/folders/{folder.pk}/imports", files=files, data=fields)


def _wait(api, job_uuid: str) -> dict:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/imports/{job_uuid}").json()
        if body["status"] in ImportJobStatus.finished():
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_uuid} did not finish: {body}")


def _time(value) -> str | None:
    return DateTimeField().to_representation(value) if value else None


def _results(response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_mixed_file_runs_to_done_with_exact_counts(api_for, alice, folder, live_server, celery_worker_process):
    api = api_for(alice)
    data = {"images": [_image(0), _image(1), {"objectUrl": 12}, _image(0, title="again"), _image(4)]}

    submitted = _upload(api, folder, data, name="mixed.json", skip_duplicate_urls="true")

    assert submitted.status_code == 202, submitted.text
    job = ImportJob.objects.get()
    builtin = integration_builtin_get_or_create(organisation=folder.organisation)
    links = {"items_url": f"{live_server.url}/api/v1/imports/{job.pk}/items",
             "errors_url": f"{live_server.url}/api/v1/imports/{job.pk}/errors"}
    assert submitted.headers["Location"] == f"{live_server.url}/api/v1/imports/{job.pk}"
    assert submitted.json() == {
        "uuid": str(job.pk), "folder": str(folder.pk), "status": "PENDING", "file_name": "mixed.json",
        "total": None, "done": 0, "skipped": 0, "failed": 0, "probe_failed": 0, "pending": 0, "error": "",
        "created_at": _time(job.created_at), "started_at": None, "finished_at": None,
        "integration": str(builtin.pk), **links,
    }

    finished = _wait(api, str(job.pk))

    job.refresh_from_db()
    assert finished == {
        "uuid": str(job.pk), "folder": str(folder.pk), "status": "DONE", "file_name": "mixed.json",
        "total": 5, "done": 3, "skipped": 1, "failed": 1, "probe_failed": 0, "pending": 0, "error": "",
        "created_at": _time(job.created_at), "started_at": _time(job.started_at),
        "finished_at": _time(job.finished_at), "integration": str(builtin.pk), **links,
    }
    assert job.started_at is not None and job.finished_at >= job.started_at
    errors = api.get(f"/api/v1/imports/{job.pk}/errors")
    assert errors.json() == {"next": None, "previous": None, "results": [
        {"entry_index": 2, "pointer": "/images/2/objectUrl", "reason": "must be a string, not 12", "urls": [],
         "stage": "entry"},
    ]}
    items = _results(api.get(f"/api/v1/imports/{job.pk}/items"))
    assert [(i["name"], i["status"], i["media_source"], i["width"], i["file_size"], i["client_metadata"])
            for i in items] == [
        ("/img/0.jpg", "ready", "supplied", 640, 1000, {"n": 0}),
        ("/img/1.jpg", "ready", "supplied", 640, 1001, {"n": 1}),
        ("/img/4.jpg", "ready", "supplied", 640, 1004, {"n": 4}),
    ]
    assert [j["uuid"] for j in _results(api.get(f"/api/v1/folders/{folder.pk}/imports"))] == [str(job.pk)]


def test_errors_csv_holds_every_error(api_for, alice, folder, celery_worker_process):
    api = api_for(alice)
    data = {"images": [
        {"objectUrl": "https://cdn.example.com/a.jpg", "objectURL": "typo"},
        _image(1, objectUrl="s3://bucket/k.jpg"),
        _image(2),
        {"objectUrl": "ftp://host/x.jpg"},
    ]}
    job_uuid = _upload(api, folder, data).json()["uuid"]
    assert _wait(api, job_uuid)["failed"] == 3

    response = api.get(f"/api/v1/imports/{job_uuid}/errors.csv")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == f'attachment; filename="import-{job_uuid}-errors.csv"'
    assert response.text == (
        "entry_index,pointer,reason,urls,stage\r\n"
        '0,/images/0/objectURL,"unknown key ""objectURL"" (did you mean ""objectUrl""?)",[],entry\r\n'
        "1,/images/1/objectUrl,s3://bucket/k.jpg needs an S3 storage integration; this import uses "
        "'Public URLs and local files',\"[\"\"s3://bucket/k.jpg\"\"]\",entry\r\n"
        '3,/images/3/objectUrl,"scheme ""ftp"" is not supported (use file://, http://, https:// or s3://)",[],'
        "entry\r\n"
    )
    assert api.get(f"/api/v1/imports/{job_uuid}/errors.csv", headers={"Accept": "text/csv"}).status_code == 200
    outsider = api_for(None)
    assert outsider.get(f"/api/v1/imports/{job_uuid}/errors.csv").status_code == 401


def test_all_or_nothing_with_one_bad_entry_imports_nothing(api_for, alice, folder, celery_worker_process):
    api = api_for(alice)
    data = {"images": [_image(0), _image(1, title=""), _image(2)]}

    submitted = api.post(f"/api/v1/folders/{folder.pk}/imports", json=data, params={"all_or_nothing": "true"})

    assert submitted.status_code == 202, submitted.text
    assert submitted.json()["file_name"] == "import.json"
    finished = _wait(api, submitted.json()["uuid"])
    assert (finished["status"], finished["error"]) == (
        "ERROR", "Nothing was imported: the file has invalid entries.")
    assert (finished["total"], finished["done"], finished["skipped"], finished["failed"]) == (3, 0, 0, 1)
    assert _results(api.get(finished["errors_url"].split(api.base)[1])) == [
        {"entry_index": 1, "pointer": "/images/1/title",
         "reason": "must not be blank (leave it out to use the default)", "urls": [], "stage": "entry"},
    ]
    assert Item.objects.count() == 0


def test_entries_over_the_limits_are_refused_with_the_reason(api_for, alice, folder, celery_worker_process):
    api = api_for(alice)
    long_url = "https://cdn.example.com/" + "a" * (16 * 1024)
    data = {"images": [_image(0, title="t" * 301), _image(1, objectUrl=long_url), _image(2, title="t" * 300)]}

    finished = _wait(api, _upload(api, folder, data).json()["uuid"])

    assert (finished["status"], finished["done"], finished["failed"]) == ("DONE", 1, 2)
    assert [(e["pointer"], e["reason"]) for e in _results(api.get(f"/api/v1/imports/{finished['uuid']}/errors"))] == [
        ("/images/0/title", "301 characters long, more than the limit of 300"),
        ("/images/1/objectUrl", "16,408 bytes long, more than the limit of 16,384"),
    ]
    assert list(Item.objects.values_list("name", flat=True)) == ["t" * 300]


def test_upsert_metadata_replaces_metadata_of_duplicates(api_for, alice, folder, celery_worker_process):
    api = api_for(alice)
    first = _wait(api, _upload(api, folder, {"images": [_image(0, clientMetadata={"v": 1}),
                                                         _image(1, clientMetadata={"v": 1})]}).json()["uuid"])
    assert (first["done"], first["skipped"]) == (2, 0)

    # the options here come from the file itself
    second = _wait(api, _upload(api, folder, {"images": [_image(0, clientMetadata={"v": 2}), _image(2)],
                                              "skip_duplicate_urls": True, "upsert_metadata": True}).json()["uuid"])
    third = _wait(api, api.post(f"/api/v1/folders/{folder.pk}/imports", params={"skip_duplicate_urls": "true"},
                                json={"images": [_image(0, clientMetadata={"v": 3})]}).json()["uuid"])

    assert (second["status"], second["done"], second["skipped"], second["failed"]) == ("DONE", 2, 0, 0)
    assert (third["status"], third["done"], third["skipped"], third["failed"]) == ("DONE", 0, 1, 0)
    listing = _results(api.get(f"/api/v1/folders/{folder.pk}/items"))
    assert [(i["name"], i["client_metadata"]) for i in listing] == [
        ("/img/0.jpg", {"v": 2}), ("/img/1.jpg", {"v": 1}), ("/img/2.jpg", {"n": 2}),
    ]
    assert [j["uuid"] for j in _results(api.get(f"/api/v1/folders/{folder.pk}/imports"))] == [
        third["uuid"], second["uuid"], first["uuid"]]


def _pending_job(folder, user) -> ImportJob:
    """A job as the submit leaves it, but never sent to a worker (so it stays PENDING)."""
    from django.core.files.base import ContentFile

    job = ImportJob(organisation=folder.organisation, folder=folder, created_by=user, file_name="later.json",
                    integration=integration_builtin_get_or_create(organisation=folder.organisation))
    job.source.save(f"{job.pk}.json", ContentFile(json.dumps({"images": [_image(0)]}).encode()), save=False)
    job.save()
    return job


def test_cancel_of_a_pending_job_ends_it_before_it_starts(api_for, alice, folder, make_user, org):
    job = _pending_job(folder, alice)
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=alice, folder=folder, member=viewer, role="viewer")

    refused = api_for(viewer).post(f"/api/v1/imports/{job.pk}/cancel")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "This needs the editor role on the folder; you are viewer."}
    assert ImportJob.objects.get().status == "PENDING"

    response = api_for(alice).post(f"/api/v1/imports/{job.pk}/cancel")

    assert response.status_code == 200, response.text
    job.refresh_from_db()
    assert (response.json()["status"], response.json()["finished_at"]) == ("CANCELLED", _time(job.finished_at))
    assert job.cancel_requested is True
    assert import_job_run(job_id=job.pk).status == "CANCELLED"  # a late worker leaves it alone
    assert Item.objects.count() == 0
    again = api_for(alice).post(f"/api/v1/imports/{job.pk}/cancel")
    assert (again.status_code, again.json()["status"]) == (200, "CANCELLED")


def test_viewer_cannot_import_and_an_outsider_gets_404(api_for, alice, folder, make_user, org):
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=alice, folder=folder, member=viewer, role="viewer")
    outsider = make_user(org, email="outsider@example.com")
    job = _pending_job(folder, alice)

    refused = _upload(api_for(viewer), folder, {"images": [_image(0)]})
    hidden = _upload(api_for(outsider), folder, {"images": [_image(0)]})

    assert refused.status_code == 403
    assert refused.json() == {"detail": "This needs the editor role on the folder; you are viewer."}
    assert hidden.status_code == 404
    assert hidden.json() == {"detail": "No such folder."}
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [job.pk]
    outsider_api = api_for(outsider)
    for path in [f"/api/v1/imports/{job.pk}", f"/api/v1/imports/{job.pk}/errors", f"/api/v1/imports/{job.pk}/items",
                 f"/api/v1/imports/{job.pk}/errors.csv", f"/api/v1/imports/{uuid.uuid4()}"]:
        response = outsider_api.get(path)
        assert (response.status_code, response.json()) == (404, {"detail": "No such import job."}), path
    assert api_for(viewer).get(f"/api/v1/imports/{job.pk}").json()["status"] == "PENDING"


def test_bodies_that_are_not_an_import_are_refused_and_create_nothing(api_for, alice, folder):
    api = api_for(alice)
    url = f"/api/v1/folders/{folder.pk}/imports"
    elsewhere = StorageIntegration.objects.create(organisation=OrganisationFactory(name="Elsewhere"), name="theirs",
                                                  kind="s3")

    cases = [
        (api.post(url, json=[_image(0)]), {"detail": "the top level must be an object, not a list"}),
        (api.post(url, json="images"), {"detail": "the top level must be an object, not a string"}),
        (api.post(url, files={"file": ("x.json", b"  [1, 2]", "application/json")}),
         {"file": ["the top level must be an object, not a list"]}),
        (api.post(url, files={"file": ("x.json", b"images: []", "application/json")}),
         {"file": ["not valid JSON: lexical error: invalid char in json text near byte 1 (line 1, column 2)"]}),
        (api.post(url, files={"file": ("x.json", b"", "application/json")}),
         {"file": ["The submitted file is empty."]}),
        (api.post(url, data={"skip_duplicate_urls": "true"}, files={"other": ("x", b"{}")}),
         {"file": ["No file was submitted."]}),
        (api.post(url, json={"images": []}, params={"integration": str(uuid.uuid4())}),
         {"integration": ["Unknown storage integration."]}),
        (api.post(url, json={"images": []}, params={"integration": str(elsewhere.pk)}),
         {"integration": ["Unknown storage integration."]}),
        (api.post(url, json={"images": []}, params={"all_or_nothing": "maybe"}),
         {"all_or_nothing": ["Must be a valid boolean."]}),
    ]
    for response, body in cases:
        assert (response.status_code, response.json()) == (400, body)

    malformed = api.post(url, data=b'{"images": [', headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["detail"].startswith("JSON parse error")
    assert api.post(url, data=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert ImportJob.objects.count() == 0


# --------------------------------------------------------------------------- integrations


def test_integrations_list_the_builtin_one_and_hide_secrets(api_for, alice, org, make_user):
    admin = make_user(org, role=OrganisationRole.ADMIN, email="admin@example.com")
    api = api_for(admin)

    created = api.post("/api/v1/integrations", json={
        "name": "minio", "endpoint_url": "http://minio:9000", "region": "eu-west-1",
        "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t", "allow_write": True,
    })

    assert created.status_code == 201, created.text
    minio = StorageIntegration.objects.get(name="minio")
    assert created.json() == {
        "uuid": str(minio.pk), "organisation": str(org.pk), "name": "minio", "kind": "s3",
        "endpoint_url": "http://minio:9000", "region": "eu-west-1", "client_only": False, "allow_write": True,
        "has_credentials": True, "created_at": _time(minio.created_at),
    }
    assert (decrypt(minio.access_key_id_encrypted), decrypt(minio.secret_access_key_encrypted)) == (
        "AKIAEXAMPLE", "s3cr3t")
    listing = api_for(alice).get("/api/v1/integrations")
    assert listing.status_code == 200
    builtin = StorageIntegration.objects.get(kind="builtin")
    assert [(i["uuid"], i["name"], i["kind"], i["has_credentials"]) for i in listing.json()] == [
        (str(builtin.pk), BUILTIN_NAME, "builtin", False), (str(minio.pk), "minio", "s3", True)]
    assert "AKIAEXAMPLE" not in listing.text and "s3cr3t" not in listing.text
    assert api_for(make_user(email="stranger@example.com")).get("/api/v1/integrations").json() == []


def test_only_organisation_admins_add_integrations(api_for, alice, org, make_user):
    admin = make_user(org, role=OrganisationRole.ADMIN, email="admin@example.com")
    body = {"name": "minio", "endpoint_url": "http://minio:9000"}

    member = api_for(alice).post("/api/v1/integrations", json=body)
    assert member.status_code == 403
    assert member.json() == {"detail": "Only organisation admins may add storage integrations."}

    assert api_for(admin).post("/api/v1/integrations", json=body).status_code == 201
    duplicate = api_for(admin).post("/api/v1/integrations", json=body)
    assert duplicate.status_code == 400
    assert duplicate.json() == {"name": ["An integration named 'minio' already exists."]}
    invalid = api_for(admin).post("/api/v1/integrations", json={"name": "x", "endpoint_url": "minio"})
    assert invalid.json() == {"endpoint_url": ["Enter the endpoint as http(s)://host[:port]."]}
    assert list(StorageIntegration.objects.values_list("name", flat=True)) == ["minio"]


def test_openapi_schema_lists_import_routes(api_for, alice):
    paths = api_for(alice).get("/api/schema?format=json").json()["paths"]
    assert {
        "/api/v1/folders/{folder_uuid}/imports", "/api/v1/imports/{uuid}", "/api/v1/imports/{uuid}/items",
        "/api/v1/imports/{uuid}/errors", "/api/v1/imports/{uuid}/errors.csv", "/api/v1/imports/{uuid}/cancel",
        "/api/v1/integrations",
    } <= set(paths)
    create = paths["/api/v1/folders/{folder_uuid}/imports"]["post"]
    assert set(create["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert list(create["responses"]) == ["202", "400", "401", "403", "404"]
