"""Serving item bytes: access checks, byte ranges, redirects, confinement, previews, PDF pages.

A file:// URL outside the local roots answers 403 with the reason (the user can see the item, so
nothing is revealed; the reason names the setting an admin would change). Invisible items are 404.
"""

from __future__ import annotations

import io
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from apps.storage.services.integrations import integration_builtin_get_or_create, integration_s3_create
from tests.media_factory import make_jpeg, make_pdf, make_text

DATA = bytes(range(256)) * 4  # 1,024 bytes, every offset distinguishable


@pytest.fixture
def world(db, org, make_user, client):
    owner = make_user(org, email="owner@example.com")
    folder = folder_create(user=owner, name="media", organisation=org)
    client.force_login(owner)
    return {"owner": owner, "folder": folder, "client": client, "org": org}


@pytest.fixture
def stored(db):
    """Save bytes in media storage; everything saved is removed afterwards."""
    names = []

    def save(name: str, data: bytes) -> str:
        saved = default_storage.save(f"test-content/{uuid.uuid4()}/{name}", ContentFile(data))
        names.append(saved)
        return saved

    yield save
    for name in names:
        default_storage.delete(name)


def make_item(world, *, item_type=ItemType.IMAGE, url="", integration=None, **fields) -> Item:
    org = world["org"]
    return Item.objects.create(
        organisation=org, folder=world["folder"], item_type=item_type, name=fields.pop("name", "item"),
        url=url, integration=integration or integration_builtin_get_or_create(organisation=org),
        status=fields.pop("status", ItemStatus.READY), **fields,
    )


def body(response) -> bytes:
    """The whole body; reading a streamed one to the end closes it (and its file)."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_outsiders_get_404_from_every_item_view(world, make_user, client, test_files):
    path = test_files / "a.bin"
    path.write_bytes(DATA)
    item = make_item(world, url=path.as_uri(), mime_type="application/octet-stream", preview="x.jpg")
    client.force_login(make_user(world["org"], email="member@example.com"))  # same org, no folder role
    for url in [f"/items/{item.pk}/", f"/items/{item.pk}/content", f"/items/{item.pk}/preview",
                f"/items/{item.pk}/frames/0", f"/items/{item.pk}/waveform", f"/items/{item.pk}/pages/1.png",
                f"/items/{item.pk}/text"]:
        assert client.get(url).status_code == 404, url
    assert client.get(f"/items/{uuid.uuid4()}/content").status_code == 404


def test_range_request_returns_exact_bytes(world, test_files):
    path = test_files / "clip.bin"
    path.write_bytes(DATA)
    item = make_item(world, item_type=ItemType.VIDEO, url=path.as_uri(), mime_type="video/mp4")
    client = world["client"]

    whole = client.get(f"/items/{item.pk}/content")
    assert (whole.status_code, whole["Content-Type"], whole["Accept-Ranges"]) == (200, "video/mp4", "bytes")
    assert (whole["Content-Length"], body(whole)) == ("1024", DATA)

    part = client.get(f"/items/{item.pk}/content", HTTP_RANGE="bytes=100-199")
    assert (part.status_code, part["Content-Range"], part["Content-Length"]) == (206, "bytes 100-199/1024", "100")
    assert body(part) == DATA[100:200]

    tail = client.get(f"/items/{item.pk}/content", HTTP_RANGE="bytes=1000-")
    assert (tail.status_code, tail["Content-Range"], body(tail)) == (206, "bytes 1000-1023/1024", DATA[1000:])
    suffix = client.get(f"/items/{item.pk}/content", HTTP_RANGE="bytes=-10")
    assert (suffix.status_code, suffix["Content-Range"], body(suffix)) == (206, "bytes 1014-1023/1024", DATA[-10:])
    past_end = client.get(f"/items/{item.pk}/content", HTTP_RANGE="bytes=5000-")
    assert (past_end.status_code, past_end["Content-Range"]) == (416, "bytes */1024")

    stale = client.get(f"/items/{item.pk}/content", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"another-version"')
    assert (stale.status_code, body(stale)) == (200, DATA)
    fresh = client.get(f"/items/{item.pk}/content", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=whole["ETag"])
    assert (fresh.status_code, body(fresh)) == (206, DATA[:10])


def test_http_urls_redirect_without_fetching(world):
    item = make_item(world, url="https://images.example.com/cam/0001.jpg")
    response = world["client"].get(f"/items/{item.pk}/content")
    assert (response.status_code, response["Location"]) == (302, "https://images.example.com/cam/0001.jpg")


def test_s3_urls_redirect_to_a_short_lived_presigned_url(world):
    integration = integration_s3_create(
        organisation=world["org"], name="minio", endpoint_url="http://minio.internal:9000", region="us-east-1",
        access_key_id="AKIDEXAMPLE", secret_access_key="secret-example",
    )
    item = make_item(world, url="s3://bucket/cam/video 1.mp4", integration=integration)
    response = world["client"].get(f"/items/{item.pk}/content")
    location = urlsplit(response["Location"])
    query = parse_qs(location.query)
    assert response.status_code == 302
    assert (location.scheme, location.netloc, location.path) == ("http", "minio.internal:9000", "/bucket/cam/video%201.mp4")
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert len(query["X-Amz-Signature"][0]) == 64


def test_file_urls_outside_the_local_roots_are_refused_with_the_reason(world, test_files):
    client = world["client"]
    outside = make_item(world, url="file:///etc/passwd")
    response = client.get(f"/items/{outside.pk}/content")
    assert response.status_code == 403
    assert response.content.decode() == "file:///etc/passwd is outside the folders Loupe may read (LOUPE_LOCAL_ROOTS)."
    sneaky = make_item(world, url=f"{test_files.as_uri()}/../../../../../../etc/passwd")
    assert client.get(f"/items/{sneaky.pk}/content").status_code == 403
    missing = make_item(world, url=(test_files / "gone.jpg").as_uri())
    response = client.get(f"/items/{missing.pk}/content")
    assert (response.status_code, response.content.decode()) == (404, f"{(test_files / 'gone.jpg').as_uri()} does not exist.")


def test_unsafe_types_are_downloads_not_pages(world, test_files):
    path = make_text(test_files / "page.html", "<script>alert(1)</script>")
    item = make_item(world, item_type=ItemType.TEXT, url=path.as_uri(), mime_type="text/html")
    response = world["client"].get(f"/items/{item.pk}/content")
    assert (response["Content-Type"], response["Content-Disposition"]) == (
        "application/octet-stream", 'attachment; filename="page.html"')
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    body(response)


def test_preview_is_served_from_media_storage(world, stored, tmp_path):
    jpeg = make_jpeg(tmp_path / "thumb.jpg", size=(32, 24)).read_bytes()
    item = make_item(world, preview=stored("thumb.jpg", jpeg))
    response = world["client"].get(f"/items/{item.pk}/preview")
    assert (response.status_code, response["Content-Type"], body(response)) == (200, "image/jpeg", jpeg)
    without = make_item(world, name="no preview")
    assert world["client"].get(f"/items/{without.pk}/preview").status_code == 404


def test_video_strip_frames_and_rendered_sequences_are_served(world, stored, tmp_path):
    frame = make_jpeg(tmp_path / "f.jpg", size=(16, 12)).read_bytes()
    video = make_item(world, item_type=ItemType.VIDEO, url="https://host/v.mp4",
                      preview_frames=[{"frame": 5, "time": 0.5, "path": stored("frame_000005.jpg", frame)}])
    assert body(world["client"].get(f"/items/{video.pk}/frames/0")) == frame
    assert world["client"].get(f"/items/{video.pk}/frames/1").status_code == 404
    sequence = make_item(world, item_type=ItemType.IMAGE_SEQUENCE, rendered=stored("seq.mp4", DATA))
    response = world["client"].get(f"/items/{sequence.pk}/content", HTTP_RANGE="bytes=0-3")
    assert (response.status_code, response["Content-Type"], body(response)) == (206, "video/mp4", DATA[:4])


def test_pdf_page_renders_a_png_of_the_expected_size(world, test_files):
    path = make_pdf(test_files / "doc.pdf", pages=2, size=(200, 100))
    item = make_item(world, item_type=ItemType.PDF, url=path.as_uri(), page_count=2)
    client = world["client"]
    response = client.get(f"/items/{item.pk}/pages/1.png")
    assert (response.status_code, response["Content-Type"]) == (200, "image/png")
    image = Image.open(io.BytesIO(body(response))).convert("L")
    assert image.size == (400, 200)  # 200 x 100 pt at 2x
    assert (image.getpixel((50, 100)), image.getpixel((350, 100))) == (0, 255)  # black left half, white right
    assert client.get(f"/items/{item.pk}/pages/2.png").status_code == 200
    assert client.get(f"/items/{item.pk}/pages/3.png").status_code == 404
    page = client.get(f"/items/{item.pk}/?page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="pdf-pager")
    assert f'src="/items/{item.pk}/pages/2.png"' in page.content.decode()
    assert "Page 2 of 2" in page.content.decode()
    assert sorted(default_storage.listdir(f"pdf-pages/{item.pk}")[1]) == ["1.png", "2.png"]  # rendered once
    for number in (1, 2):
        default_storage.delete(f"pdf-pages/{item.pk}/{number}.png")


def test_text_is_shown_escaped(world, test_files):
    path = make_text(test_files / "notes.txt", "line <b>one</b>\nzwei – drei\n")
    item = make_item(world, item_type=ItemType.TEXT, url=path.as_uri(), mime_type="text/plain")
    html = world["client"].get(f"/items/{item.pk}/text").content.decode()
    assert '<pre class="text-view">line &lt;b&gt;one&lt;/b&gt;\nzwei – drei\n</pre>' in html


def test_item_pages_render_for_every_type(world, stored, test_files):
    """Every type's page renders its viewer; children link to their own pages."""
    client = world["client"]
    jpeg = make_jpeg(test_files / "m.jpg")
    pages = {}
    for item_type in ItemType.values:
        item = make_item(world, item_type=item_type, name=f"{item_type} item", url=jpeg.as_uri()
                         if item_type not in ItemType.containers() else "")
        pages[item_type] = item
    group = pages[ItemType.IMAGE_GROUP]
    child = make_item(world, parent=group, position=0, name="member.jpg", url=jpeg.as_uri(),
                      preview=stored("t.jpg", jpeg.read_bytes()))
    expected = {
        ItemType.IMAGE: f'<img id="viewer-image" class="viewer-image" src="/items/{pages["image"].pk}/content"',
        ItemType.VIDEO: f'<video id="viewer-video" class="viewer-video" controls preload="metadata" '
                        f'src="/items/{pages["video"].pk}/content">',
        ItemType.AUDIO: f'src="/items/{pages["audio"].pk}/content"',
        ItemType.PDF: f'<img id="pdf-page" class="pdf-page" src="/items/{pages["pdf"].pk}/pages/1.png"',
        ItemType.TEXT: f'hx-get="/items/{pages["text"].pk}/text" hx-trigger="load"',
        ItemType.IMAGE_GROUP: f'<a class="item-card" href="/items/{child.pk}/"',
        ItemType.IMAGE_SEQUENCE: "The video of this sequence is being rendered.",
        ItemType.DICOM_SERIES: "This series has no slices.",
        ItemType.NIFTI: '<div class="placeholder large" data-type="nifti">',
        ItemType.DICOM_FILE: '<div class="placeholder large" data-type="dicom_file">',
    }
    for item_type, snippet in expected.items():
        html = client.get(f"/items/{pages[item_type].pk}/").content.decode()
        assert snippet in html, item_type
    html = client.get(f"/items/{child.pk}/").content.decode()
    assert f'/ <a href="/items/{group.pk}/">image_group item</a> / <strong>member.jpg</strong>' in html
    assert "Move to trash" not in html  # children go with their container


def test_client_only_items_load_from_their_urls(world):
    from apps.storage.services.integrations import integration_s3_create

    integration = integration_s3_create(organisation=world["org"], name="browser only", client_only=True)
    item = make_item(world, url="https://cdn.example.com/a.jpg", integration=integration)
    html = world["client"].get(f"/items/{item.pk}/").content.decode()
    assert '<img id="viewer-image" class="viewer-image" src="https://cdn.example.com/a.jpg"' in html
    local = make_item(world, url="file:///data/a.jpg", integration=integration)
    assert world["client"].get(f"/items/{local.pk}/content").status_code == 403
    no_keys = integration_s3_create(organisation=world["org"], name="no keys")
    bucket_item = make_item(world, url="s3://bucket/a.jpg", integration=no_keys)
    response = world["client"].get(f"/items/{bucket_item.pk}/content")
    assert (response.status_code, response.content.decode()) == (
        403, "s3://bucket/a.jpg cannot be opened: its S3 integration has no access key.")


def test_rename_move_trash_and_restore_an_item(world, test_files):
    client, owner = world["client"], world["owner"]
    other = folder_create(user=owner, name="other", organisation=world["org"])
    item = make_item(world, name="old name", url="https://host/a.jpg")
    assert client.post(f"/items/{item.pk}/rename", {"name": "new name", "description": "d"}).status_code == 302
    bad = client.post(f"/items/{item.pk}/rename", {"name": "  "}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400
    assert client.post(f"/items/{item.pk}/move", {"folder": str(other.pk)}).status_code == 302
    item.refresh_from_db()
    assert (item.name, item.description, item.folder_id) == ("new name", "d", other.pk)

    response = client.post(f"/items/{item.pk}/delete", HTTP_HX_REQUEST="true")
    assert (response.status_code, response["HX-Redirect"]) == (204, f"/folders/{other.pk}/")
    assert client.get(f"/items/{item.pk}/").status_code == 404
    trash = client.get("/trash/").content.decode()
    assert trash.count(f'action="/items/{item.pk}/restore"') == 1
    assert client.post(f"/items/{item.pk}/restore").status_code == 302
    assert client.get(f"/items/{item.pk}/").status_code == 200


def test_folder_grid_filters_and_loads_more(world):
    """The folder page's grid is the Explorer's: 60 tiles a page, "load more" by page token, built-in filters."""
    folder, client = world["folder"], world["client"]
    for n in range(62):
        make_item(world, name=f"img {n:03d}", url="https://host/a.jpg")
    make_item(world, item_type=ItemType.AUDIO, name="voice", url="https://host/a.wav")
    first = client.get(f"/folders/{folder.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    html = first.content.decode()
    assert html.count('class="item-card result-tile"') == 60
    more_url = html.split('hx-get="')[-1].split('"')[0].replace("&amp;", "&")
    assert more_url.startswith(f"/folders/{folder.pk}/?after=")
    second = client.get(more_url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="load-more").content.decode()
    assert second.count('class="item-card result-tile"') == 3
    assert 'id="load-more"' not in second
    audio = client.get(f"/folders/{folder.pk}/?in:$type=audio&text:$name=VOI", HTTP_HX_REQUEST="true",
                       HTTP_HX_TARGET="results").content.decode()
    assert audio.count('class="item-card result-tile"') == 1 and '<div class="item-name">voice</div>' in audio


def test_import_job_views_check_access_and_cancel(world, make_user, client, tmp_path):
    from apps.storage.models import ImportJob
    from apps.imports.services.imports import import_job_create

    owner_client = world["client"]
    job = import_job_create(user=world["owner"], folder=world["folder"], fileobj=ContentFile(b'{"images": []}'),
                            file_name="x.json")
    assert owner_client.get(f"/imports/{job.pk}/").status_code == 200
    response = owner_client.post(f"/imports/{job.pk}/cancel", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and '<span id="job-status" class="badge job-cancelled">CANCELLED' in \
        response.content.decode()
    assert ImportJob.objects.get().status == "CANCELLED"
    csv_response = owner_client.get(f"/imports/{job.pk}/errors.csv")
    assert body(csv_response) == b"entry_index,pointer,reason,urls,stage\r\n"
    client.force_login(make_user(world["org"], email="stranger@example.com"))
    for url in [f"/imports/{job.pk}/", f"/imports/{job.pk}/errors.csv"]:
        assert client.get(url).status_code == 404
    assert client.post(f"/imports/{job.pk}/cancel").status_code == 404


def test_trash_lists_each_item_once_for_organisation_admins(world, make_user, client):
    from apps.core.models import OrganisationRole
    from apps.storage.services.folders import folder_member_set
    from apps.storage.services.items import items_trash

    for email in ("a@example.com", "b@example.com"):  # members of the tree multiply the visibility join
        folder_member_set(user=world["owner"], folder=world["folder"], member=make_user(world["org"], email=email),
                          role="viewer")
    item = make_item(world, name="gone", url="https://host/a.jpg")
    items_trash(user=world["owner"], items=[item])
    client.force_login(make_user(world["org"], role=OrganisationRole.ADMIN, email="boss@example.com"))
    assert client.get("/trash/").content.decode().count(f'action="/items/{item.pk}/restore"') == 1
