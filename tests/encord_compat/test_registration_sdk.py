"""Registration through the SDK runs Loupe's import job (a real Celery worker), with the SDK's report."""

from __future__ import annotations

import json
import time

import pytest

from apps.encord_compat.models import UploadJobOptions
from apps.storage.models import ImportJob, Item, ItemStatus
from apps.storage.services.integrations import integration_builtin_get_or_create
from tests import media_factory as media
from tests.encord_compat.helpers import image_entry

pytestmark = pytest.mark.usefixtures("celery_worker_process")


@pytest.fixture
def builtin(org):
    return str(integration_builtin_get_or_create(organisation=org).pk)


@pytest.fixture
def every_type(test_files, http_files):
    """A JSON import file with one entry of every data type, all real files served over HTTP."""
    media.make_jpeg(test_files / "a.jpg", size=(40, 30))
    media.make_mp4(test_files / "v.mp4", frames=10, fps=10)
    media.make_wav(test_files / "s.wav", seconds=0.5)
    media.make_text(test_files / "t.txt", "hello loupe")
    media.make_pdf(test_files / "d.pdf", pages=2)
    media.make_nifti(test_files / "n.nii")
    for n in range(3):
        media.make_jpeg(test_files / f"g{n}.jpg", size=(32, 24), color=media.frame_color(n))
    series = media.make_dicom_series(test_files / "series", slices=2)
    url = lambda name: f"{http_files}/{name}"  # noqa: E731
    document = {
        "images": [{"objectUrl": url("a.jpg"), "title": "a.jpg", "clientMetadata": {"kind": "image"}}],
        "videos": [{"objectUrl": url("v.mp4"), "title": "v.mp4"}],
        "audio": [{"objectUrl": url("s.wav"), "title": "s.wav"}],
        "text": [{"objectUrl": url("t.txt"), "title": "t.txt"}],
        "pdf": [{"objectUrl": url("d.pdf"), "title": "d.pdf"}],
        "nifti": [{"objectUrl": url("n.nii"), "title": "n.nii"}],
        "image_groups": [
            {"title": "group", "createVideo": False, **{f"objectUrl_{n}": url(f"g{n}.jpg") for n in range(3)}},
            {"title": "sequence", "createVideo": True, **{f"objectUrl_{n}": url(f"g{n}.jpg") for n in range(3)}},
        ],
        "dicom_series": [{"title": "series", **{f"objectUrl_{n}": url(f"series/{path.name}")
                                                for n, path in enumerate(sorted(series))}}],
    }
    path = test_files / "register.json"
    path.write_text(json.dumps(document))
    return path


EXPECTED_TYPES = {"a.jpg": "image", "v.mp4": "video", "s.wav": "audio", "t.txt": "text", "d.pdf": "pdf",
                  "n.nii": "nifti", "group": "image_group", "sequence": "image_sequence", "series": "dicom_series"}


def test_every_data_type_from_a_json_file(run_sdk, sdk_version, alice, folder, builtin, every_type):
    out = run_sdk(sdk_version, "register.py", folder=folder.pk, integration=builtin, mode="file",
                  path=str(every_type))

    assert out["status"] == "DONE", out
    assert (out["done"], out["error_count"], out["pending"], out["errors"]) == (9, 0, 0, [])
    items = {item.name: item for item in Item.objects.filter(folder=folder, parent__isnull=True)}
    assert {name: item.item_type for name, item in items.items()} == EXPECTED_TYPES
    assert sorted(name for _, name in out["items"]) == sorted(EXPECTED_TYPES)
    assert all(item.status == ItemStatus.READY for item in items.values()), \
        {name: (item.status, item.status_reason) for name, item in items.items()}
    assert (items["a.jpg"].width, items["a.jpg"].height) == (40, 30)
    assert items["v.mp4"].frame_count == 10
    assert items["d.pdf"].page_count == 2
    assert items["a.jpg"].client_metadata == {"kind": "image"}
    assert Item.objects.filter(parent=items["group"]).count() == 3
    assert Item.objects.filter(parent=items["series"]).count() == 2
    job = ImportJob.objects.get(pk=out["job"])
    assert job.file_name == "register.json"
    assert UploadJobOptions.objects.get(import_job=job).ignore_errors is False


def test_dict_with_bad_entries_reports_unit_errors_and_keeps_the_valid_ones(run_sdk, sdk_version, alice, folder,
                                                                           builtin):
    document = {"images": [image_entry(0), {"objectUrl": "ftp://nowhere/x.jpg"}, image_entry(2),
                           {"objectUrl": "https://cdn.example.com/3.jpg", "colour": "red"}]}

    out = run_sdk(sdk_version, "register.py", folder=folder.pk, integration=builtin, mode="dict", document=document)

    assert out["status"] == "ERROR"  # ignore_errors=False: any failed unit fails the job for the SDK
    assert (out["done"], out["error_count"]) == (2, 2)
    assert len(out["unit_errors"]) == 2
    assert "ftp" in out["unit_errors"][0][1] and "colour" in out["unit_errors"][1][1], out["unit_errors"]
    assert out["errors"][0].startswith("/images/1/objectUrl: ")
    assert out["errors"][1].startswith("/images/3")
    assert all(error[2] == "Registering image" for error in out["unit_errors"])
    assert sorted(Item.objects.filter(folder=folder).values_list("name", flat=True)) == ["img-000.jpg", "img-002.jpg"]


def test_ignore_errors_reports_done(run_sdk, sdk_version, alice, folder, builtin):
    document = {"images": [image_entry(0), {"objectUrl": "ftp://nowhere/x.jpg"}]}

    out = run_sdk(sdk_version, "register.py", folder=folder.pk, integration=builtin, mode="dict",
                  document=document, ignore_errors=True)

    assert (out["status"], out["done"], out["error_count"]) == ("DONE", 1, 1)


def test_data_upload_items(run_sdk, sdk_version, alice, folder, builtin):
    spec = {
        "images": [{"url": "https://cdn.example.com/i.jpg", "title": "i.jpg", "metadata": {"n": 1},
                    "image_metadata": {"mime_type": "image/jpeg", "file_size": 10, "width": 4, "height": 3}}],
        "videos": [{"url": "https://cdn.example.com/v.mp4", "title": "v.mp4",
                    "video_metadata": {"fps": 25, "duration": 2, "width": 8, "height": 6, "file_size": 100,
                                       "mime_type": "video/mp4"}}],
    }

    out = run_sdk(sdk_version, "register.py", folder=folder.pk, integration=builtin, mode="items", items=spec)

    assert (out["status"], out["done"], out["error_count"]) == ("DONE", 2, 0), out
    image = Item.objects.get(folder=folder, name="i.jpg")
    assert (image.item_type, image.width, image.height, image.client_metadata) == ("image", 4, 3, {"n": 1})
    video = Item.objects.get(folder=folder, name="v.mp4")
    assert (video.fps, video.duration, video.frame_count) == (25.0, 2.0, 50)


def test_skip_duplicate_urls_makes_a_rerun_a_no_op(run_sdk, alice, folder, builtin):
    document = {"images": [image_entry(n) for n in range(3)], "skip_duplicate_urls": True}
    first = run_sdk("newest", "register.py", folder=folder.pk, integration=builtin, mode="dict", document=document)
    # A run takes about a second here: signed in the same second, the second run's identical request
    # would be the same signed request and get the first job back (apps/encord_compat/replay.py).
    time.sleep(1.1)
    second = run_sdk("newest", "register.py", folder=folder.pk, integration=builtin, mode="dict", document=document)

    assert (first["status"], len(first["items"])) == ("DONE", 3)
    assert (second["status"], second["items"], second["error_count"]) == ("DONE", [], 0)
    assert Item.objects.filter(folder=folder).count() == 3


def test_unknown_integration_is_a_400(run_sdk, alice, folder):
    with pytest.raises(AssertionError, match="no storage integration"):
        run_sdk("newest", "register.py", folder=folder.pk, integration="00000000-0000-4000-8000-000000000000",
                mode="dict", document={"images": [image_entry(0)]})
    assert ImportJob.objects.count() == 0


def test_cancel(run_sdk, alice, folder, builtin):
    document = {"images": [image_entry(n) for n in range(20_000)]}

    out = run_sdk("newest", "register.py", folder=folder.pk, integration=builtin, mode="dict", document=document,
                  cancel=True)

    assert out["status"] == "CANCELLED"
    assert Item.objects.filter(folder=folder).count() == out["done"] < 20_000
    job = ImportJob.objects.get(pk=out["job"])
    if job.total is None:  # cancelled before a worker opened the file: nothing was counted or registered
        assert (out["done"], out["cancelled"]) == (0, 0)
    else:
        assert out["done"] + out["cancelled"] == 20_000
