"""Items in a real browser: import a JSON file and watch its job, upload files, filter the grid,
and use the image and video viewers, with a real Celery worker doing the imports and probing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import expect

from apps.storage.models import ImportJob, Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from apps.storage.services.integrations import integration_builtin_get_or_create
from tests.media_factory import make_jpeg, make_mp4, make_pdf, make_wav

pytestmark = pytest.mark.browser

FTP_REASON = 'scheme "ftp" is not supported (use file://, http://, https:// or s3://)'
SCREENSHOTS = "/tmp"


@pytest.fixture
def folder_page(logged_in, live_server, org):
    page, user = logged_in
    folder = folder_create(user=user, name="Dashcam", organisation=org)
    page.goto(f"{live_server.url}{folder.get_absolute_url()}")
    return page, user, folder


def drop_file(page, selector: str, name: str, text: str) -> None:
    """Drag a file onto a drop zone the way a browser does: dragenter, dragover, drop with a DataTransfer."""
    page.evaluate(
        """([selector, name, text]) => {
            const data = new DataTransfer();
            data.items.add(new File([text], name, {type: "application/json"}));
            const zone = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
            }
        }""",
        [selector, name, text],
    )


def counts(page) -> dict[str, str]:
    return {key: page.locator(f"#job-panel [data-count={key}]").inner_text()
            for key in ("done", "skipped", "failed", "pending", "total")}


def test_json_import_progress_failures_grid_and_image_viewer(folder_page, live_server, celery_worker_process,
                                                             test_files):
    page, _user, folder = folder_page
    probed = make_jpeg(test_files / "a.jpg", size=(64, 48))
    supplied = make_jpeg(test_files / "b.jpg", size=(80, 60), color=(20, 90, 200))
    registration = {"images": [
        {"objectUrl": probed.as_uri(), "title": "a.jpg"},
        {"objectUrl": supplied.as_uri(), "title": "b.jpg",
         "imageMetadata": {"width": 80, "height": 60, "file_size": supplied.stat().st_size, "mime_type": "image/jpeg"}},
        {"objectUrl": "ftp://files.example.com/c.jpg", "title": "c.jpg"},
    ]}
    drop_file(page, "#import-form", "cameras.json", json.dumps(registration))

    expect(page.locator("#job-status")).to_have_text("DONE", timeout=20_000)
    assert counts(page) == {"done": "2", "skipped": "0", "failed": "1", "pending": "0", "total": "3"}
    rows = page.locator("#job-errors tbody tr")
    assert [rows.nth(0).locator("td").nth(i).inner_text() for i in range(3)] == ["2", "/images/2/objectUrl", FTP_REASON]
    job = ImportJob.objects.get()
    assert page.locator("#job-errors-csv").get_attribute("href") == f"/imports/{job.pk}/errors.csv"
    csv_text = page.request.get(f"{live_server.url}/imports/{job.pk}/errors.csv").text()
    assert csv_text == ('entry_index,pointer,reason,urls,stage\r\n'
                        '2,/images/2/objectUrl,"scheme ""ftp"" is not supported (use file://, http://, https:// or '
                        's3://)",[],entry\r\n')  # a refused entry's URLs are not kept by the engine
    expect(page.locator("#job-list tbody tr td").first).to_have_text("cameras.json")

    # The grid reloads when the job ends, then keeps refreshing until a.jpg is probed.
    page.locator("#results").wait_for()  # the Explorer's grid, newest first (one import: ties by uuid)
    expect(page.locator("#result-grid .item-name")).to_have_count(2)
    assert sorted(page.locator("#result-grid .item-name").all_inner_texts()) == ["a.jpg", "b.jpg"]
    expect(page.locator("#result-grid .item-card[data-status=ready]")).to_have_count(2, timeout=20_000)
    expect(page.locator("#result-grid .item-card:has-text('a.jpg') img")).to_have_count(1)  # a.jpg's thumbnail
    page.screenshot(path=f"{SCREENSHOTS}/loupe-folder.png", full_page=True)

    # The tile's link (a plain click may open the Explorer's side panel instead): it carries the result.
    page.goto(live_server.url + page.locator("#result-grid .item-card:has-text('a.jpg')").get_attribute("href"))
    page.wait_for_url(re.compile(r"/items/[0-9a-f-]{36}/\?from="))
    page.wait_for_function("() => { const i = document.querySelector('#viewer-image'); return i.complete && i.naturalWidth > 0; }")
    assert page.evaluate("() => [document.querySelector('#viewer-image').naturalWidth, "
                         "document.querySelector('#viewer-image').naturalHeight]") == [64, 48]
    assert page.locator(".breadcrumbs").inner_text() == "Folders / Dashcam / a.jpg"
    page.screenshot(path=f"{SCREENSHOTS}/loupe-item-image.png", full_page=True)


@pytest.fixture
def uploads_removed(folder_page):
    yield
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "uploads" / str(folder_page[2].pk), ignore_errors=True)


def test_upload_two_files_then_filter_and_search(folder_page, uploads_removed, celery_worker_process, tmp_path):
    page, _user, folder = folder_page
    photo = make_jpeg(tmp_path / "photo.jpg", size=(64, 48))
    tone = make_wav(tmp_path / "tone.wav", seconds=1.0, rate=8000)
    page.set_input_files("#upload-form input[type=file]", [str(photo), str(tone)])

    expect(page.locator("#job-status")).to_have_text("DONE", timeout=20_000)
    assert counts(page) == {"done": "2", "skipped": "0", "failed": "0", "pending": "0", "total": "2"}
    expect(page.locator("#result-grid .item-name")).to_have_count(2)
    assert sorted(page.locator("#result-grid .item-name").all_inner_texts()) == ["photo.jpg", "tone.wav"]
    expect(page.locator("#result-grid .item-card[data-status=ready]")).to_have_count(2, timeout=20_000)
    sizes = {i.name: i.file_size for i in Item.objects.filter(folder=folder)}
    assert sizes == {"photo.jpg": photo.stat().st_size, "tone.wav": tone.stat().st_size}

    page.locator('#facets input[name="in:$type"][value=audio]').check()  # the Explorer's sidebar
    expect(page.locator("#result-grid .item-name")).to_have_text(["tone.wav"])
    page.locator('#facets input[name="in:$type"][value=audio]').uncheck()
    page.fill('#facets input[name="text:$name"]', "PHO")
    page.locator('#facets input[name="text:$name"]').dispatch_event("change")
    expect(page.locator("#result-grid .item-name")).to_have_text(["photo.jpg"])
    assert page.url.endswith("?text%3A%24name=PHO")  # the filter is in the address, so reload and back work


def test_video_frame_strip_seeks_the_video(logged_in, live_server, org, test_files, tmp_path):
    page, user = logged_in
    folder = folder_create(user=user, name="Clips", organisation=org)
    video = make_mp4(test_files / "clip.mp4", frames=50, fps=10, size=(160, 120))
    frames, names = [], []
    for number in (5, 15, 25, 35, 45):
        picture = make_jpeg(tmp_path / f"f{number}.jpg", size=(80, 60), color=(number * 5, 40, 90)).read_bytes()
        names.append(default_storage.save(f"test-ui/{folder.pk}/frame_{number:06d}.jpg", ContentFile(picture)))
        frames.append({"frame": number, "time": number / 10, "path": names[-1]})
    item = Item.objects.create(
        organisation=org, folder=folder, item_type=ItemType.VIDEO, name="clip.mp4", url=video.as_uri(),
        integration=integration_builtin_get_or_create(organisation=org), status=ItemStatus.READY,
        mime_type="video/mp4", width=160, height=120, fps=10, duration=5.0, frame_count=50, preview_frames=frames,
    )
    try:
        page.goto(f"{live_server.url}/items/{item.pk}/")
        page.wait_for_function("() => document.querySelector('#viewer-video').readyState >= 1")
        expect(page.locator(".frame-strip .frame img")).to_have_count(5)
        page.locator(".frame-strip .frame").nth(2).click()
        page.wait_for_function("() => Math.abs(document.querySelector('#viewer-video').currentTime - 2.5) < 0.01")
        page.locator(".frame-strip .frame").nth(4).click()
        page.wait_for_function("() => Math.abs(document.querySelector('#viewer-video').currentTime - 4.5) < 0.01")
        expect(page.locator(".frame-strip .frame.active")).to_have_attribute("data-time", "4.5")
        page.screenshot(path=f"{SCREENSHOTS}/loupe-item-video.png", full_page=True)
    finally:
        for name in names:
            default_storage.delete(name)


def test_dicom_slider_pdf_pages_and_audio_waveform(logged_in, live_server, org, test_files, tmp_path):
    page, user = logged_in
    folder = folder_create(user=user, name="Scans", organisation=org)
    builtin = integration_builtin_get_or_create(organisation=org)
    common = {"organisation": org, "folder": folder, "integration": builtin, "status": ItemStatus.READY}
    names = []
    series = Item.objects.create(item_type=ItemType.DICOM_SERIES, name="study-1", **common)
    slices = []
    for position in range(3):
        picture = make_jpeg(tmp_path / f"s{position}.jpg", size=(32, 32), color=(60 * position, 60, 60)).read_bytes()
        names.append(default_storage.save(f"test-ui/{folder.pk}/slice_{position}.jpg", ContentFile(picture)))
        slices.append(Item.objects.create(
            item_type=ItemType.DICOM_FILE, name=f"slice_{position + 1:03d}.dcm", parent=series, position=position,
            preview=names[-1], media_info={"window_center": 40 + position, "window_width": 400}, **common))
    series.media_info = {"slice_order": [str(s.pk) for s in reversed(slices)]}  # anatomical order differs
    series.save()
    pdf = Item.objects.create(item_type=ItemType.PDF, name="doc.pdf", page_count=2,
                              url=make_pdf(test_files / "doc.pdf", pages=2, size=(200, 100)).as_uri(), **common)
    audio = Item.objects.create(item_type=ItemType.AUDIO, name="tone.wav", duration=1.0, mime_type="audio/wav",
                                url=make_wav(test_files / "tone.wav").as_uri(),
                                media_info={"waveform": [0.5] * 400}, **common)
    try:
        page.goto(f"{live_server.url}/items/{series.pk}/")
        assert page.locator("#slice-label").inner_text() == "Slice 1 of 3"
        assert page.locator("#slice-image").get_attribute("src") == f"/items/{slices[2].pk}/preview"
        page.locator("#slice-range").fill("2")
        expect(page.locator("#slice-image")).to_have_attribute("src", f"/items/{slices[0].pk}/preview")
        assert page.locator("#slice-label").inner_text() == "Slice 3 of 3"
        assert page.locator("#slice-window").inner_text() == "Window centre 40 / width 400"
        assert page.locator("#members .item-name").all_inner_texts() == ["slice_001.dcm", "slice_002.dcm",
                                                                          "slice_003.dcm"]
        page.screenshot(path=f"{SCREENSHOTS}/loupe-item-dicom.png", full_page=True)

        page.goto(f"{live_server.url}/items/{pdf.pk}/")
        assert page.locator("#pdf-page-label").inner_text() == "Page 1 of 2"
        page.click("#pdf-next")
        expect(page.locator("#pdf-page-label")).to_have_text("Page 2 of 2")
        page.wait_for_function("() => document.querySelector('#pdf-page').naturalWidth > 0")
        assert page.evaluate("() => [document.querySelector('#pdf-page').naturalWidth, "
                             "document.querySelector('#pdf-page').naturalHeight]") == [400, 200]
        expect(page.locator("#pdf-next")).to_have_count(0)

        page.goto(f"{live_server.url}/items/{audio.pk}/")
        page.wait_for_function("() => document.querySelector('#viewer-audio').readyState >= 1")
        box = page.locator(".waveform").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
        page.wait_for_function("() => Math.abs(document.querySelector('#viewer-audio').currentTime - 0.5) < 0.02")
        page.screenshot(path=f"{SCREENSHOTS}/loupe-item-audio.png", full_page=True)
    finally:
        for name in [*names, f"pdf-pages/{pdf.pk}/1.png", f"pdf-pages/{pdf.pk}/2.png"]:
            default_storage.delete(name)
