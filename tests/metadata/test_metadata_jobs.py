"""Metadata jobs: CSV and JSON files of item metadata, run by a real Celery worker process and
submitted over real HTTP; row errors, merge vs replace, cancellation, resume after a crash, permissions."""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import transaction

from apps.metadata.models_jobs import MetadataJob, MetadataJobStatus
from apps.metadata.records import MetadataChange
from apps.metadata.services import job_files
from apps.metadata.services import jobs as job_services
from apps.metadata.services.jobs import (
    metadata_job_cancel, metadata_job_create, metadata_job_run,
)
from apps.metadata.services.schema import schema_key_add
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create, folder_member_set

JOB_TIMEOUT_S = 30


@pytest.fixture
def admin(transactional_db, org, make_user):
    return make_user(org, role="admin", email="admin@example.com")


@pytest.fixture
def folder(admin, org):
    schema_key_add(user=admin, organisation=org, name="score", type="number")
    schema_key_add(user=admin, organisation=org, name="reviewed", type="boolean")
    return folder_create(user=admin, name="data", organisation=org)


@pytest.fixture
def sub(admin, folder):
    return folder_create(user=admin, name="cam-1", parent=folder)


@pytest.fixture
def elsewhere(admin, org):
    return folder_create(user=admin, name="other", organisation=org)


def _item(folder, name: str, metadata: dict | None = None, *, keyed: bool = True) -> Item:
    url = f"https://cdn.example.com/{name}"
    return Item.objects.create(
        organisation=folder.organisation, folder=folder, item_type=ItemType.IMAGE, name=name, url=url,
        urls_key=hashlib.sha1(url.encode()).hexdigest() if keyed else "", client_metadata=metadata or {},
        status=ItemStatus.READY)


def _metadata(item: Item) -> dict:
    item.refresh_from_db()
    return item.client_metadata


def _wait(job_uuid) -> MetadataJob:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = MetadataJob.objects.get(pk=job_uuid)
        if job.is_finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"metadata job {job_uuid} did not finish: {job.status} {job.next_index}")


def _submit(api, folder, content: bytes, name: str, **fields):
    return api.post("/api/v1/metadata/jobs", files={"file": (name, content)},
                    data={"folder": str(folder.pk), **fields})


def _errors(job: MetadataJob) -> list[tuple]:
    return list(job.errors.values_list("row", "location", "key", "reason"))


# --------------------------------------------------------------------------- CSV and JSON through the API


def test_csv_job_merges_valid_rows_and_reports_the_others(celery_worker_process, api_for, admin, folder, sub,
                                                          elsewhere):
    a = _item(folder, "a.jpg", {"score": 0.1, "keep": "yes"})
    b = _item(folder, "b.jpg", {"score": 0.2})
    c = _item(sub, "c.jpg", {"score": 0.3, "reviewed": True}, keyed=False)  # registered without a urls_key
    outside = _item(elsewhere, "d.jpg", {"score": 0.4})
    csv_text = (
        "url,score,reviewed,camera,tags\n"
        "https://cdn.example.com/a.jpg,0.5,true,north,\"[1, 2]\"\n"
        "https://cdn.example.com/b.jpg,high,,south,\n"
        "https://cdn.example.com/missing.jpg,1,,,\n"
        "https://cdn.example.com/c.jpg,,false,\"{\"\"x\"\": 1}\",null\n"
        "\n"
        "https://cdn.example.com/d.jpg,0.9,,,\n"
        "https://cdn.example.com/a.jpg,,,007,\"\"\"42\"\"\"\n"
    )
    api = api_for(admin)

    response = _submit(api, folder, csv_text.encode(), "scores.csv")

    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(f"/api/v1/metadata/jobs/{response.json()['uuid']}")
    job = _wait(response.json()["uuid"])
    assert (job.status, job.file_format, job.mode, job.match) == ("DONE", "csv", "merge", "url")
    assert (job.total, job.next_index, job.done, job.failed, job.pending) == (6, 6, 3, 3, 0)
    assert _metadata(a) == {"score": 0.5, "keep": "yes", "reviewed": True, "camera": "007", "tags": "42"}
    assert _metadata(b) == {"score": 0.2}
    assert _metadata(c) == {"score": 0.3, "reviewed": False, "camera": {"x": 1}}
    assert _metadata(outside) == {"score": 0.4}
    assert _errors(job) == [
        (2, "line 3", "https://cdn.example.com/b.jpg", 'key "score": expected number, got "high"'),
        (3, "line 4", "https://cdn.example.com/missing.jpg",
         "no single-file item with url https://cdn.example.com/missing.jpg in this job's folders"),
        (5, "line 7", "https://cdn.example.com/d.jpg",
         "no single-file item with url https://cdn.example.com/d.jpg in this job's folders"),
    ]
    assert list(MetadataChange.objects.filter(item=a).order_by("pk").values_list("action", "keys")) == [
        ("merge", ["camera", "reviewed", "score", "tags"]), ("merge", ["camera", "tags"])]
    assert MetadataChange.objects.count() == 3

    page = api.get(f"/api/v1/metadata/jobs/{job.pk}", params={"errors_page_size": 2}).json()
    assert (page["status"], page["total"], page["done"], page["failed"]) == ("DONE", 6, 3, 3)
    assert [e["row"] for e in page["errors"]] == [2, 3]
    assert page["errors_next"].endswith(f"/api/v1/metadata/jobs/{job.pk}?errors_after=3&errors_page_size=2")
    next_url = urlsplit(page["errors_next"])
    last = api.get(f"{next_url.path}?{next_url.query}").json()
    assert (last["errors"], last["errors_next"]) == ([{
        "row": 5, "location": "line 7", "key": "https://cdn.example.com/d.jpg",
        "reason": "no single-file item with url https://cdn.example.com/d.jpg in this job's folders"}], None)


def test_json_job_replaces_by_uuid(celery_worker_process, api_for, admin, folder, sub, elsewhere):
    a = _item(folder, "a.jpg", {"score": 0.1, "keep": "no"})
    b = _item(sub, "b.jpg", {"score": 0.2})
    outside = _item(elsewhere, "c.jpg", {"score": 0.3})
    body = {"mode": "replace", "match": "uuid", "items": {
        str(a.pk): {"score": 1, "label": "car"},
        str(b.pk).upper(): {},
        "not-a-uuid": {"score": 2},
        str(outside.pk): {"score": 3},
        str(a.pk).replace("-", ""): {"reviewed": "maybe"},
    }}

    response = _submit(api_for(admin), folder, json.dumps(body).encode(), "labels.json")

    job = _wait(response.json()["uuid"])
    assert (job.status, job.file_format, job.mode, job.match) == ("DONE", "json", "replace", "uuid")
    assert (job.total, job.done, job.failed) == (5, 2, 3)
    assert (_metadata(a), _metadata(b), _metadata(outside)) == ({"score": 1, "label": "car"}, {}, {"score": 0.3})
    hex_a = str(a.pk).replace("-", "")
    assert _errors(job) == [
        (3, "/items/not-a-uuid", "not-a-uuid", "'not-a-uuid' is not a uuid"),
        (4, f"/items/{outside.pk}", str(outside.pk), f"no item {outside.pk} in this job's folders"),
        (5, f"/items/{hex_a}", hex_a, 'key "reviewed": expected boolean, got "maybe"'),
    ]
    assert list(MetadataChange.objects.order_by("pk").values_list("item_id", "action")) == [
        (a.pk, "replace"), (b.pk, "replace")]


def test_json_list_by_title_applies_repeated_items_in_file_order(celery_worker_process, admin, folder, sub):
    first = _item(folder, "first.jpg", {"score": 0.1})
    second = _item(sub, "second.jpg", {"score": 0.2, "old": 1})
    _item(folder, "twin.jpg")
    _item(sub, "twin.jpg")
    rows = [
        {"title": "first.jpg", "metadata": {"score": 0.5}},
        {"item": str(second.pk), "metadata": {"old": None, "new": [1]}},
        {"title": "first.jpg", "metadata": {"score": 0.75, "note": "second write wins"}},
        {"title": "twin.jpg", "metadata": {"score": 1}},
        {"url": "https://cdn.example.com/first.jpg", "title": "first.jpg", "metadata": {}},
        {"title": "first.jpg", "metadata": ["not", "an", "object"]},
    ]
    job = metadata_job_create(user=admin, folder=folder, fileobj=ContentFile(json.dumps(rows).encode(), "rows"))

    job = _wait(job.pk)

    assert (job.status, job.file_format, job.mode, job.match) == ("DONE", "json", "merge", "")
    assert (job.total, job.done, job.failed) == (6, 3, 3)
    assert _metadata(first) == {"score": 0.75, "note": "second write wins"}
    assert _metadata(second) == {"score": 0.2, "new": [1]}
    assert _errors(job) == [
        (4, "/3", "twin.jpg", "2 items have the title 'twin.jpg' in this job's folders; match them by uuid"),
        (5, "/4", "", 'a row names its item with exactly one of "item", "url" or "title"'),
        (6, "/5", "first.jpg", 'the row needs "metadata": a JSON object'),
    ]
    assert list(MetadataChange.objects.filter(item=first).order_by("pk").values_list("after", flat=True)) == [
        {"score": 0.5}, {"score": 0.75, "note": "second write wins"}]


def test_replace_and_merge_of_the_same_csv(celery_worker_process, admin, folder):
    merged = _item(folder, "merged.jpg", {"score": 0.1, "keep": 1})
    replaced = _item(folder, "replaced.jpg", {"score": 0.1, "keep": 1})
    csv_text = "title,score,reviewed,keep\n{name},0.9,,null\n"

    for item, mode in ((merged, "merge"), (replaced, "replace")):
        content = ContentFile(csv_text.format(name=item.name).encode(), "rows.csv")
        job = _wait(metadata_job_create(user=admin, folder=folder, fileobj=content, mode=mode).pk)
        assert (job.status, job.mode, job.match, job.done, job.failed) == ("DONE", mode, "title", 1, 0)

    assert _metadata(merged) == {"score": 0.9}
    assert _metadata(replaced) == {"score": 0.9, "keep": None}


def test_file_level_errors_apply_nothing(celery_worker_process, admin, folder):
    item = _item(folder, "a.jpg", {"score": 0.1})
    files = {
        "bad.csv": b"name,score\na.jpg,1\n",
        "bad.json": b'{"items": {"x": {}}, "mode": "merge", "extra": 1}',
        "broken.json": b'{"items": {"' + str(item.pk).encode() + b'": {"score": 1}',
        "clash.json": b'{"mode": "replace", "items": {}}',
    }
    jobs = {name: metadata_job_create(user=admin, folder=folder, fileobj=ContentFile(content, name), mode="merge")
            for name, content in files.items()}

    errors = {name: (_wait(job.pk).status, _wait(job.pk).error) for name, job in jobs.items()}

    assert errors["bad.csv"] == ("ERROR", "The CSV header's first column is 'name'; it must be uuid, url or title.")
    assert errors["bad.json"] == ("ERROR", "Unknown key 'extra' in the file: expected mode, match and items.")
    assert errors["broken.json"][0] == "ERROR" and errors["broken.json"][1].startswith("The file is not valid JSON")
    assert errors["clash.json"] == ("ERROR", "The job was submitted with mode merge, but the file says replace.")
    assert _metadata(item) == {"score": 0.1}
    assert MetadataChange.objects.count() == 0


def test_organisation_wide_job_reaches_only_the_trees_the_submitter_edits(celery_worker_process, api_for, admin,
                                                                           org, make_user, folder, elsewhere):
    editor, viewer = make_user(org, email="editor@example.com"), make_user(org, email="viewer@example.com")
    folder_member_set(user=admin, folder=folder, member=editor, role="editor")
    folder_member_set(user=admin, folder=elsewhere, member=viewer, role="viewer")
    mine, theirs = _item(folder, "x.jpg", {"score": 0.1}), _item(elsewhere, "y.jpg", {"score": 0.2})
    content = b"title,score\nx.jpg,0.5\ny.jpg,0.5\n"

    response = api_for(editor).post("/api/v1/metadata/jobs", files={"file": ("rows.csv", content)})
    refused = api_for(viewer).post("/api/v1/metadata/jobs", files={"file": ("rows.csv", content)})

    assert (refused.status_code, refused.json()) == (
        403, {"detail": "This needs the editor role on at least one folder of the organisation."})
    assert (response.status_code, response.json()["folder"], response.json()["organisation"]) == (
        202, None, str(org.pk))
    job = _wait(response.json()["uuid"])
    assert (job.status, job.done, job.failed) == ("DONE", 1, 1)
    assert (_metadata(mine), _metadata(theirs)) == ({"score": 0.5}, {"score": 0.2})
    assert _errors(job) == [(2, "line 3", "y.jpg", "no item titled 'y.jpg' in this job's folders")]
    assert api_for(editor).get(f"/api/v1/metadata/jobs/{job.pk}").json()["done"] == 1
    assert api_for(viewer).get(f"/api/v1/metadata/jobs/{job.pk}").status_code == 404


def test_a_row_the_bulk_service_refuses_after_merging_fails_alone(admin, folder, settings):
    settings.LOUPE_METADATA_MAX_BYTES = 60
    big = _item(folder, "big.jpg", {"note": "x" * 40})
    small = _item(folder, "small.jpg", {"note": "x"})
    rows = {str(big.pk): {"more": "y" * 20}, str(small.pk): {"more": "y" * 20}}
    job = MetadataJob.objects.create(
        organisation=folder.organisation, folder=folder, created_by=admin, file_format="json",
        source=ContentFile(json.dumps({"items": rows}).encode(), "rows.json"))

    job = metadata_job_run(job_id=job.pk)

    assert (job.status, job.done, job.failed) == ("DONE", 1, 1)
    assert (_metadata(big), _metadata(small)) == ({"note": "x" * 40}, {"note": "x", "more": "y" * 20})
    assert _errors(job) == [(1, f"/items/{big.pk}", str(big.pk), (
        f"item {big.pk}: the merged metadata would be 81 bytes, more than the limit of 60 bytes "
        "(LOUPE_METADATA_MAX_BYTES)"))]
    assert MetadataChange.objects.count() == 1


# --------------------------------------------------------------------------- cancel and resume


def test_cancelling_a_pending_job_stops_it_before_any_row(celery_worker_process, admin, folder):
    item = _item(folder, "a.jpg", {"score": 0.1})
    with transaction.atomic():  # the task is sent on commit: it finds the job already cancelled
        job = metadata_job_create(user=admin, folder=folder, fileobj=ContentFile(
            f"uuid,score\n{item.pk},1\n".encode(), "rows.csv"))
        job = metadata_job_cancel(user=admin, job=job)
    assert job.status == MetadataJobStatus.CANCELLED

    time.sleep(0.5)
    job.refresh_from_db()
    assert (job.status, job.done, job.next_index, job.started_at) == ("CANCELLED", 0, 0, None)
    assert _metadata(item) == {"score": 0.1}


def test_a_chunk_bigger_than_a_bulk_request_is_written_in_one_call(admin, folder, monkeypatch):
    Item.objects.bulk_create([
        Item(organisation=folder.organisation, folder=folder, item_type=ItemType.IMAGE, name=f"{n}.jpg",
             url=f"https://cdn.example.com/{n}.jpg", client_metadata={"n": n}, status=ItemStatus.READY)
        for n in range(1200)])
    items = list(Item.objects.filter(folder=folder).order_by("name"))
    job = MetadataJob.objects.create(
        organisation=folder.organisation, folder=folder, created_by=admin, file_format="csv",
        source=ContentFile("uuid,score\n" + "".join(f"{i.pk},0.5\n" for i in items), "rows.csv"))
    calls = []
    original = job_services.items_metadata_bulk_write

    def spy(**kwargs):
        calls.append(len(kwargs["writes"]))
        return original(**kwargs)

    monkeypatch.setattr(job_services, "items_metadata_bulk_write", spy)

    job = metadata_job_run(job_id=job.pk)

    assert (job.status, job.done, job.failed, calls) == ("DONE", 1200, 0, [1200])
    assert MetadataChange.objects.filter(item__folder=folder).count() == 1200
    assert all(i.client_metadata == {"n": int(i.name[:-4]), "score": 0.5} for i in Item.objects.filter(folder=folder))


def test_cancel_between_chunks_keeps_committed_chunks(admin, folder, monkeypatch):
    items = [_item(folder, f"{n}.jpg", {"score": 0}) for n in range(5)]
    job = MetadataJob.objects.create(
        organisation=folder.organisation, folder=folder, created_by=admin, file_format="csv",
        source=ContentFile("uuid,score\n" + "".join(f"{i.pk},{n + 1}\n" for n, i in enumerate(items)), "rows.csv"))
    monkeypatch.setattr(job_services, "CHUNK_ROWS", 2)
    original = job_services._apply

    def cancel_after_first_chunk(job_row, writes, errors):
        done = original(job_row, writes, errors)
        metadata_job_cancel(user=admin, job=MetadataJob.objects.get(pk=job.pk))
        return done

    monkeypatch.setattr(job_services, "_apply", cancel_after_first_chunk)

    job = metadata_job_run(job_id=job.pk)

    assert (job.status, job.total, job.next_index, job.done, job.failed) == ("CANCELLED", 5, 2, 2, 0)
    assert [_metadata(i)["score"] for i in items] == [1, 2, 0, 0, 0]


def test_crashed_job_resumes_on_a_worker_without_applying_a_row_twice(celery_worker_process, admin, folder,
                                                                       monkeypatch):
    items = [_item(folder, f"{n}.jpg", {"score": 0, "n": n}) for n in range(5)]
    rows = {str(i.pk): {"score": n + 1, "seen": True} for n, i in enumerate(items)}
    job = MetadataJob.objects.create(
        organisation=folder.organisation, folder=folder, created_by=admin, file_format="json",
        source=ContentFile(json.dumps({"items": rows}).encode(), "rows.json"))
    monkeypatch.setattr(job_services, "CHUNK_ROWS", 2)
    original, calls = job_services._apply, []

    def die_in_second_chunk(job_row, writes, errors):
        done = original(job_row, writes, errors)  # chunk 2's metadata is written, then the worker "dies"
        calls.append(done)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an Exception: the job is left to be resumed
        return done

    monkeypatch.setattr(job_services, "_apply", die_in_second_chunk)
    with pytest.raises(SystemExit):
        metadata_job_run(job_id=job.pk)

    crashed = MetadataJob.objects.get(pk=job.pk)
    assert (crashed.status, crashed.next_index, crashed.done) == ("RUNNING", 2, 2)
    assert [_metadata(i)["score"] for i in items] == [1, 2, 0, 0, 0]
    assert MetadataChange.objects.count() == 2
    # The stopping run gave its lease back; the worker's sweep sends the job again within a second.
    finished = _wait(job.pk)
    assert (finished.status, finished.total, finished.next_index, finished.done, finished.failed) == (
        "DONE", 5, 5, 5, 0)
    assert [_metadata(i) for i in items] == [{"score": n + 1, "n": n, "seen": True} for n in range(5)]
    assert MetadataChange.objects.count() == 5
    assert sorted(MetadataChange.objects.values_list("item_id", flat=True)) == sorted(i.pk for i in items)
    assert metadata_job_run(job_id=job.pk).done == 5  # a finished job is left alone


# --------------------------------------------------------------------------- permissions and the command


def test_viewers_cannot_submit_and_outsiders_see_nothing(celery_worker_process, api_for, admin, org, make_user,
                                                         folder):
    viewer, outsider = make_user(org, email="viewer@example.com"), make_user(email="outsider@example.com")
    folder_member_set(user=admin, folder=folder, member=viewer, role="viewer")
    item = _item(folder, "a.jpg", {"score": 0.1})
    content = f"uuid,score\n{item.pk},1\n".encode()

    refused = _submit(api_for(viewer), folder, content, "rows.csv")
    hidden = _submit(api_for(outsider), folder, content, "rows.csv")
    submitted = _submit(api_for(admin), folder, content, "rows.csv", mode="replace")

    assert (refused.status_code, refused.json()) == (
        403, {"detail": "This needs the editor role on the folder; you are viewer."})
    assert (hidden.status_code, hidden.json()) == (404, {"detail": "No such folder."})
    assert submitted.status_code == 202
    job_url = f"/api/v1/metadata/jobs/{submitted.json()['uuid']}"
    _wait(submitted.json()["uuid"])
    assert api_for(viewer).get(job_url).json()["status"] == "DONE"
    assert api_for(viewer).post(f"{job_url}/cancel").status_code == 403
    assert [api_for(outsider).get(job_url).status_code, api_for(outsider).post(f"{job_url}/cancel").status_code] == [
        404, 404]
    assert _metadata(item) == {"score": 1}
    assert MetadataJob.objects.count() == 1


def test_import_metadata_command(celery_worker_process, admin, folder, sub, tmp_path, capsys):
    item = _item(sub, "a.jpg", {"score": 0.1})
    path = tmp_path / "rows.csv"
    path.write_text("title,score\na.jpg,0.5\nnope.jpg,1\n")

    call_command("import_metadata", str(path), "--folder", "data/cam-1", "--user", admin.email)

    out = capsys.readouterr().out
    job = MetadataJob.objects.get()
    assert out.splitlines()[0] == f"Queued metadata job {job.pk} of rows.csv for data/cam-1 and below."
    assert out.splitlines()[-3:] == [
        f"Metadata job {job.pk} DONE: 2 rows (merge, by title), 1 done, 1 failed.",
        "Errors:",
        "  row 2 (line 3): no item titled 'nope.jpg' in this job's folders",
    ]
    assert _metadata(item) == {"score": 0.5}


@pytest.mark.parametrize(("cell", "value"), [
    ("1", 1), ("-2.5e3", -2500.0), ("true", True), ("null", None), ("[1, \"a\"]", [1, "a"]), ('{"a": 1}', {"a": 1}),
    ('"42"', "42"), ("007", "007"), ("NaN", "NaN"), ("Infinity", "Infinity"), (" 1", " 1"), ("1 ", "1 "),
    ("sunny", "sunny"), ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"), ("[broken", "[broken"), ("True", "True"),
])
def test_csv_cells_become_json_values(cell, value):
    assert job_files.csv_cell_value(cell) == value
