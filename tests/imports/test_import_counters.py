"""Import counters tell one story on every door (issue 9, item 9).

The rule: every entry of the file is counted once, in done, skipped, failed (refused: no item),
probe_failed (registered, its file unreadable) or pending; they add up to total. The REST job, the
job page, the job card (htmx fragment), the folder's recent imports and the Encord upload-job result
(whose units are done = done + skipped, errors = failed + probe_failed) must all show those numbers,
for a real import run by a real worker with validation failures and probe failures.
"""

from __future__ import annotations

import json
import re
import time

import requests
from django.test import Client
from django.urls import reverse
from encord.http.v2.request_signer import sign_request

from apps.core.services import public_key_add
from apps.storage.models import ImportJob, Item, ItemStatus
from apps.storage.services.folders import folder_create
from tests.encord_compat.conftest import make_key
from tests.media_factory import make_jpeg

JOB_TIMEOUT_S = 60
COUNTS = ("done", "skipped", "failed", "probe_failed", "pending", "total")


def _page_counts(html: str, *, scope: str) -> dict[str, int]:
    """``data-count="<name>">N<`` inside the element whose id is ``scope``."""
    start = html.index(f'id="{scope}"')
    found = re.findall(r'data-count="(\w+)"[^>]*>([\d,]+)<', html[start:])
    counts: dict[str, int] = {}
    for name, value in found:
        counts.setdefault(name, int(value.replace(",", "")))
    return counts


def _encord_state(live_server, private, folder, job) -> dict:
    url = f"{live_server.url}/v2/public/storage/folders/{folder.pk}/data-upload-jobs/{job.pk}"
    prepared = requests.Request("GET", url, params={"timeoutSeconds": 0}).prepare()
    signed = sign_request(prepared, private.public_key().public_bytes_raw().hex(), private)
    with requests.Session() as session:
        response = session.send(signed, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_counters_are_the_same_on_every_door(celery_worker_process, live_server, api_for, org, make_user,
                                             test_files, tmp_path):
    alice = make_user(org, role="admin", email="alice@example.com")
    _path, public_line, private = make_key(tmp_path)
    public_key_add(user=alice, openssh=public_line + " alice@laptop")
    folder = folder_create(user=alice, name="counted", organisation=org)
    readable = make_jpeg(test_files / "readable.jpg")
    supplied = make_jpeg(test_files / "supplied.jpg")
    (test_files / "broken.jpg").write_bytes(b"these bytes are no image")
    registration = {"images": [
        {"objectUrl": readable.as_uri()},  # done (probed)
        {"objectUrl": (test_files / "broken.jpg").as_uri()},  # probe_failed: cannot be decoded
        {"objectUrl": "ftp://files.example.com/c.jpg"},  # failed at validation: no item
        {"objectUrl": supplied.as_uri(), "imageMetadata": {"width": 64, "height": 48, "mime_type": "image/jpeg",
                                                           "file_size": supplied.stat().st_size}},  # done
        {"objectUrl": (test_files / "missing.jpg").as_uri()},  # probe_failed: no such file
        {"objectUrl": readable.as_uri(), "title": "again"},  # skipped: a duplicate
    ]}
    api = api_for(alice)
    submitted = api.post(f"/api/v1/folders/{folder.pk}/imports?skip_duplicate_urls=true",
                         data=json.dumps(registration), headers={"Content-Type": "application/json"})
    assert submitted.status_code == 202, submitted.text
    job = ImportJob.objects.get(pk=submitted.json()["uuid"])
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not (ImportJob.objects.get(pk=job.pk).is_finished
               and not Item.objects.filter(import_job=job, status=ItemStatus.PENDING).exists()):
        assert time.monotonic() < deadline, "the job and its probes did not finish"
        time.sleep(0.1)
    expected = {"done": 2, "skipped": 1, "failed": 1, "probe_failed": 2, "pending": 0, "total": 6}

    rest = api.get(f"/api/v1/imports/{job.pk}").json()
    browser = Client()
    browser.force_login(alice)
    page = browser.get(reverse("imports:import-job", args=[job.pk])).content.decode()
    card = browser.get(reverse("imports:import-job", args=[job.pk]), headers={"HX-Request": "true"}).content.decode()
    folder_page = browser.get(folder.get_absolute_url()).content.decode()
    encord = _encord_state(live_server, private, folder, job)
    errors = api.get(f"/api/v1/imports/{job.pk}/errors").json()["results"]

    assert {name: rest[name] for name in COUNTS} == expected
    assert _page_counts(page, scope="job-panel") == expected
    assert _page_counts(card, scope="job-panel") == expected
    recent = _page_counts(folder_page, scope="job-list")
    assert recent == {name: expected[name] for name in ("done", "skipped", "failed", "probe_failed")}
    assert (encord["status"], encord["unitsDoneCount"], encord["unitsErrorCount"], encord["unitsPendingCount"]) == (
        "ERROR", expected["done"] + expected["skipped"], expected["failed"] + expected["probe_failed"], 0)
    assert sorted((e["entry_index"], e["stage"]) for e in errors) == [(1, "probe"), (2, "entry"), (4, "probe")]
    assert len(encord["unitErrors"]) == len(errors) == expected["failed"] + expected["probe_failed"]
