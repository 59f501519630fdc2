"""One set of metadata rules for every door: an import file and the metadata API accept and refuse the
same ``clientMetadata`` alike, with the same message, and the import names the place with a JSON pointer.

Also: every problem of an import entry is reported (with its own pointer), and ``file://`` URLs that name
a host are refused when the file is read, not when a worker first tries to fetch them.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core.files.base import ContentFile

from apps.imports.services.imports import import_job_create, import_job_run
from apps.metadata.services.schema import schema_key_add
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create

# (clientMetadata, None when accepted, else the JSON pointer of the refused place inside it)
CASES = [
    ({"$encord": {"config": {"sampling_rate": "2"}}}, None),  # quoted, as Encord's docs show it
    ({"$encord": {"config": {"sampling_rate": 0.5, "keyframe_mode": "seconds"}, "frames": {"1.5": {}}}}, None),
    ({"$encord": {"config": {"sampling_rate": "2x"}}}, "/$encord/config/sampling_rate"),
    ({"$encord": {"config": {"sampling_rate": -1}}}, "/$encord/config/sampling_rate"),
    ({"$encord": {"config": {"keyframe_mode": "ms"}}}, "/$encord/config/keyframe_mode"),
    ({"$encord": {"config": {"fps": 25}}}, "/$encord/config/fps"),
    ({"$encord": {"extra": 1}}, "/$encord/extra"),
    ({"$encord": 3}, "/$encord"),
    ({"$encord": {"frames": {"7": {"score": 1}}}}, None),
    ({"$encord": {"frames": {"007": {}}}}, "/$encord/frames/007"),  # would name frame 7 twice
    ({"$encord": {"frames": [7, "8"]}}, None),
    ({"$encord": {"frames": ["007"]}}, "/$encord/frames/0"),
    ({"$encord": {"frames": {"3": 4}}}, "/$encord/frames/3"),
    ({"$encord": {"frames": "1,2"}}, "/$encord/frames"),
    ({"$encord": {"frames": {"12": {"score": "high"}}}}, "/$encord/frames/12/score"),
    ({"$encord": {"frames": {"12": {"a/b": 1}}}}, "/$encord/frames/12/a~1b"),
    ({"keyframes": [1, 2]}, None),
    ({"keyframes": ["1"]}, "/keyframes"),
    ({"$other": 1}, "/$other"),
    ({"score": "high"}, "/score"),
    ({"score.v2": "high", "a.b": {"c": 1}}, None),  # dots are allowed in key names; only the schema types
    ({"key_frames": 1}, "/key_frames"),
]


@pytest.fixture
def editor(transactional_db, org, make_user):
    return make_user(org, role="admin", email="editor@example.com")


@pytest.fixture
def folder(editor, org):
    schema_key_add(user=editor, organisation=org, name="score", type="number")
    return folder_create(user=editor, name="data", organisation=org)


def _import(editor, folder, entries: list[dict]):
    """Run the import and return it finished: here, or in the session's worker when it took the queued
    task first (these tests run on committed data, because of the live server, so the job is queued)."""
    data = {"videos": entries}
    job = import_job_create(user=editor, folder=folder, fileobj=ContentFile(json.dumps(data).encode(), name="f.json"))
    import_job_run(job_id=job.pk)
    deadline = time.monotonic() + 60
    job.refresh_from_db()
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
        job.refresh_from_db()
    return job


def _video(i: int, **extra) -> dict:
    return {"objectUrl": f"https://cdn.example.com/v/{i}.mp4",
            "videoMetadata": {"fps": 25, "duration": 4.0, "width": 64, "height": 48}} | extra


def test_an_import_file_and_the_metadata_api_accept_and_refuse_the_same_metadata(api_for, editor, folder):
    api = api_for(editor)
    item = Item.objects.create(organisation=folder.organisation, folder=folder, item_type=ItemType.VIDEO,
                               name="v.mp4", url="https://h/v.mp4", status=ItemStatus.READY, fps=25)
    job = _import(editor, folder, [_video(i, clientMetadata=metadata) for i, (metadata, _) in enumerate(CASES)])
    errors = {error.entry_index: error for error in job.errors.all()}

    seen = []
    for index, (metadata, refused_at) in enumerate(CASES):
        response = api.put(f"/api/v1/items/{item.pk}/metadata", json=metadata)
        imported = errors.get(index)
        refusal = response.json()["metadata"] if response.status_code == 400 else None
        api_message = refusal[0].removeprefix(f"item {item.pk}: ") if refusal else None
        seen.append((
            index, response.status_code,
            imported.pointer if imported else None,
            imported.reason == api_message if imported else api_message is None,
        ))

    assert seen == [
        (index, 200, None, True) if refused_at is None
        else (index, 400, f"/videos/{index}/clientMetadata{refused_at}", True)
        for index, (_, refused_at) in enumerate(CASES)
    ]
    accepted = sum(1 for _, refused_at in CASES if refused_at is None)
    assert (job.status, job.done, job.failed, accepted, len(CASES)) == ("DONE", accepted, len(CASES) - accepted, 6, 22)


def test_a_quoted_sampling_rate_is_read_as_the_number_it_spells(editor, folder, api_for):
    job = _import(editor, folder, [_video(0, clientMetadata={"$encord": {"config": {"sampling_rate": "2"},
                                                                        "frames": {"10": {}}}})])
    item = Item.objects.get(import_job=job)

    body = api_for(editor).get(f"/api/v1/items/{item.pk}/frames").json()

    assert (body["sampling_rate"], body["keyframe_mode"]) == (2.0, "frame")
    assert [entry["frame"] for entry in body["frames"] if entry["key_frame"]] == [10]


def test_every_problem_of_an_entry_is_reported_each_with_its_pointer(editor, folder):
    bad = _video(0, objectUrl="ftp://host/v.mp4", title="",
                 clientMetadata={"score": "high", "$encord": {"frames": {"007": {}}}})
    job = _import(editor, folder, [bad, _video(1)])

    error = job.errors.get()
    assert (job.done, job.failed, error.entry_index, error.pointer) == (1, 1, 0, "/videos/0")
    assert error.reason == (
        "4 problems: "
        '/videos/0/objectUrl: scheme "ftp" is not supported (use file://, http://, https:// or s3://); '
        "/videos/0/title: must not be blank (leave it out to use the default); "
        '/videos/0/clientMetadata/$encord/frames/007: key "$encord.frames.007": expected a frame number as the '
        "frame key; "
        '/videos/0/clientMetadata/score: key "score": expected number, got "high"'
    )
    assert Item.objects.filter(import_job=job).count() == 1


@pytest.mark.parametrize("url, refused", [
    ("file://nas/data/v.mp4", True),
    ("file://192.168.1.5/data/v.mp4", True),
    ("file://localhost/data/v.mp4", False),
    ("file://LOCALHOST/data/v.mp4", False),
    ("file:///data/v.mp4", False),
])
def test_file_urls_with_a_host_are_refused_when_the_file_is_read(editor, folder, url, refused):
    job = _import(editor, folder, [_video(0, objectUrl=url)])

    errors = list(job.errors.values_list("pointer", "reason"))
    host = url.split("/")[2]
    assert errors == ([("/videos/0/objectUrl", f'names the host "{host}": a file:// URL is a file on the machine '
                                                "Loupe runs on, so it has no host (file:///path/to/file)")]
                      if refused else [])
