"""``manage.py import_json`` and ``manage.py list_integrations``, with jobs run by a real Celery worker."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.models import User
from apps.storage.models import Folder, ImportJob, Item
from apps.storage.services.folders import folder_create, folder_member_set
from apps.storage.services.integrations import BUILTIN_NAME, integration_s3_create
from tests.factories import OrganisationFactory

BAR = re.compile(r"\[(?P<bar>[#-]{30})\] (?P<percent>[ \d]{3}%) (?P<counts>.*) \| [\d,]+ entries/s")


@pytest.fixture
def editor(transactional_db, org, make_user):
    return make_user(org, email="editor@example.com")


@pytest.fixture
def cam(editor, org) -> Folder:
    site = folder_create(user=editor, name="site-1", organisation=org)
    folder_create(user=editor, name="cam-1", parent=site)
    return folder_create(user=editor, name="cam-2", parent=site)


def _image(n: int, **extra) -> dict:
    return {"objectUrl": f"https://cdn.example.com/cam/{n}.jpg",
            "imageMetadata": {"mime_type": "image/jpeg", "file_size": 2000 + n, "width": 1920, "height": 1080},
            } | extra


def _file(tmp_path, data: dict, name: str = "cams.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _run(*args) -> list[str]:
    out = io.StringIO()
    call_command("import_json", *args, stdout=out, no_color=True)
    return out.getvalue().splitlines()


def test_import_into_a_folder_path_shows_progress_and_the_errors(tmp_path, editor, cam, celery_worker_process):
    path = _file(tmp_path, {"images": [_image(0), {"objectUrl": 12}, _image(2), _image(0)]})

    lines = _run(path, "--folder", "site-1/cam-2", "--user", "editor@example.com", "--skip-duplicate-urls")

    job = ImportJob.objects.get()
    assert lines[0] == f"Queued import {job.pk} of cams.json into site-1/cam-2."
    final = BAR.fullmatch(lines[-4])
    assert final is not None, lines
    assert (final["bar"], final["percent"], final["counts"]) == (
        "#" * 30, "100%", "4/4 | done 2, skipped 1, failed 1, pending 0")
    assert all(BAR.fullmatch(line) or "waiting for a worker" in line or "reading the file" in line
               for line in lines[1:-3]), lines
    assert lines[-3:] == [
        f"Import {job.pk} DONE: 4 entries, 2 done, 1 skipped, 1 failed.",
        "Errors:",
        "  /images/1/objectUrl: must be a string, not 12",
    ]
    assert sorted(Item.objects.filter(folder=cam).values_list("name", flat=True)) == ["/cam/0.jpg", "/cam/2.jpg"]
    assert (job.file_name, job.created_by, job.skip_duplicate_urls) == ("cams.json", editor, True)


def test_more_than_twenty_errors_point_to_the_csv(tmp_path, editor, cam, celery_worker_process):
    path = _file(tmp_path, {"images": [{"objectUrl": n} for n in range(25)]})

    lines = _run(path, "--folder", str(cam.pk), "--user", "editor@example.com")

    job = ImportJob.objects.get()
    assert lines[-23:] == [
        f"Import {job.pk} DONE: 25 entries, 0 done, 0 skipped, 25 failed.",
        "Errors (first 20 of 25):",
        *[f"  /images/{n}/objectUrl: must be a string, not {n}" for n in range(20)],
        f"  ... all of them: /api/v1/imports/{job.pk}/errors.csv",
    ]


def test_a_job_that_ends_in_error_exits_with_1(tmp_path, editor, cam, celery_worker_process):
    path = _file(tmp_path, {"images": [_image(0), _image(1, title=5)]})
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("import_json", path, "--folder", "site-1/cam-2", "--user", "editor@example.com",
                     "--all-or-nothing", stdout=out, no_color=True)

    assert raised.value.returncode == 1
    assert str(raised.value) == "The import failed: Nothing was imported: the file has invalid entries."
    job = ImportJob.objects.get()
    assert out.getvalue().splitlines()[-3:] == [
        f"Import {job.pk} ERROR: 2 entries, 0 done, 0 skipped, 1 failed.",
        "Errors:",
        "  /images/1/title: must be a string, not 5",
    ]
    assert Item.objects.count() == 0


def test_no_wait_queues_as_the_first_superuser(tmp_path, celery_worker_process, transactional_db):
    admin = User.objects.create_superuser("root@example.com", "pw-for-tests-1")
    folder = folder_create(user=admin, name="inbox", organisation=admin.organisation_memberships.get().organisation)
    path = _file(tmp_path, {"images": []}, name="empty.json")

    lines = _run(path, "--folder", "inbox", "--no-wait")

    job = ImportJob.objects.get()
    assert lines == [f"Queued import {job.pk} of empty.json into inbox.",
                     f"Not waiting; follow it at /api/v1/imports/{job.pk}"]
    assert (job.folder, job.created_by) == (folder, admin)
    _wait_in_db(job)  # let the worker finish before the test database is flushed


def _wait_in_db(job: ImportJob) -> None:
    import time

    for _ in range(300):
        job.refresh_from_db()
        if job.is_finished:
            return
        time.sleep(0.1)
    raise AssertionError(f"{job} did not finish")


@pytest.mark.parametrize("args, message", [
    (["--folder", "site-1/cam-9", "--user", "editor@example.com"],
     "No folder at path 'site-1/cam-9' in Acme that editor@example.com can see."),
    (["--folder", "00000000-0000-0000-0000-000000000000", "--user", "editor@example.com"],
     "No folder 00000000-0000-0000-0000-000000000000 that editor@example.com can see."),
    (["--folder", "site-1/cam-2", "--user", "nobody@example.com"], "No active user with email 'nobody@example.com'."),
    (["--folder", "site-1/cam-2", "--user", "editor@example.com", "--organisation", "Other"],
     "editor@example.com is not in an organisation named 'Other'."),
    (["--folder", "site-1/cam-2"], "There is no superuser to act as; name a user with --user <email>."),
])
def test_bad_arguments_are_a_command_error_with_code_2(tmp_path, editor, cam, args, message):
    path = _file(tmp_path, {"images": [_image(0)]})

    with pytest.raises(CommandError) as raised:
        _run(path, *args)

    assert (raised.value.returncode, str(raised.value)) == (2, message)
    assert ImportJob.objects.count() == 0


def test_a_viewer_and_a_missing_file_are_refused(tmp_path, editor, cam, org, make_user):
    viewer = make_user(org, email="viewer@example.com")
    folder_member_set(user=editor, folder=cam.parent, member=viewer, role="viewer")
    path = _file(tmp_path, {"images": [_image(0)]})

    with pytest.raises(CommandError) as refused:
        _run(path, "--folder", "site-1/cam-2", "--user", "viewer@example.com")
    with pytest.raises(CommandError) as missing:
        _run(str(tmp_path / "nope.json"), "--folder", "site-1/cam-2", "--user", "editor@example.com")
    with pytest.raises(CommandError) as unknown_integration:
        _run(path, "--folder", "site-1/cam-2", "--user", "editor@example.com", "--integration", "minio")

    assert (refused.value.returncode, str(refused.value)) == (
        2, "viewer@example.com may not import into site-1/cam-2: This needs the editor role on the folder; "
           "you are viewer.")
    assert (missing.value.returncode, str(missing.value)) == (2, f"No such file: {tmp_path / 'nope.json'}")
    builtin = org.integrations.get()
    assert (unknown_integration.value.returncode, str(unknown_integration.value)) == (
        2, f"No storage integration 'minio' in Acme (there are: {builtin.pk} {BUILTIN_NAME}).")
    assert ImportJob.objects.count() == 0


def test_list_integrations_prints_uuid_and_name(org, make_user, transactional_db):
    zone = integration_s3_create(organisation=org, name="Zone", endpoint_url="http://minio:9000")
    bucket = integration_s3_create(organisation=org, name="Bucket A")
    out = io.StringIO()

    call_command("list_integrations", stdout=out)

    builtin = org.integrations.get(kind="builtin")
    assert out.getvalue() == f"{bucket.pk} Bucket A\n{builtin.pk} {BUILTIN_NAME}\n{zone.pk} Zone\n"

    OrganisationFactory(name="Beta")
    with pytest.raises(CommandError) as several:
        call_command("list_integrations", stdout=io.StringIO())
    assert (several.value.returncode, str(several.value)) == (
        2, "There are several organisations; name one with --organisation (Acme, Beta).")
    out = io.StringIO()
    call_command("list_integrations", "--organisation", "Beta", stdout=out)
    assert out.getvalue() == f"{OrganisationFactory(name='Beta').integrations.get().pk} {BUILTIN_NAME}\n"
    with pytest.raises(CommandError) as unknown:
        call_command("list_integrations", "--organisation", "Gamma", stdout=io.StringIO())
    assert str(unknown.value) == "No organisation named 'Gamma'."


def test_the_integration_given_by_uuid_applies_its_rules(tmp_path, editor, cam, org, celery_worker_process):
    strict = integration_s3_create(organisation=org, name="strict", client_only=True)
    path = _file(tmp_path, {"images": [_image(0), {"objectUrl": "https://cdn.example.com/no-metadata.jpg"}]})

    lines = _run(path, "--folder", "site-1/cam-2", "--user", "editor@example.com", "--integration", str(strict.pk))

    job = ImportJob.objects.get()
    assert job.integration == strict
    assert lines[-3:] == [
        f"Import {job.pk} DONE: 2 entries, 1 done, 0 skipped, 1 failed.",
        "Errors:",
        "  /images/1/imageMetadata: the integration 'strict' is client-only: Loupe never reads its files, "
        "so each entry must carry imageMetadata",
    ]
