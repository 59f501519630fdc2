"""Item metadata in a real browser: the typed form (errors in place, saving a merge), the History tab and
revert, and a video's key and sampled frame entries."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.metadata.records import MetadataChange
from apps.metadata.services.derived import metadata_with_vectors
from apps.metadata.services.schema import schema_key_add
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from apps.storage.services.integrations import integration_builtin_get_or_create
from tests.media_factory import make_jpeg, make_mp4

pytestmark = pytest.mark.browser


@pytest.fixture
def schema(org, make_user):
    admin = make_user(org, role="admin", email="schema-admin@example.com")
    schema_key_add(user=admin, organisation=org, name="weather", type="enum", enum_values=["rain", "sun"])
    schema_key_add(user=admin, organisation=org, name="seen", type="datetime")
    schema_key_add(user=admin, organisation=org, name="run", type="uuid")
    schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=3)


def _item(org, user, test_files, **fields) -> Item:
    folder = folder_create(user=user, name="Cameras", organisation=org)
    return Item.objects.create(organisation=org, folder=folder, integration=integration_builtin_get_or_create(
        organisation=org), status=ItemStatus.READY, **fields)


def _metadata(item: Item) -> dict:
    item.refresh_from_db()
    return metadata_with_vectors([item])[item.pk]


def test_typed_form_saves_a_merge_and_history_reverts_it(logged_in, live_server, org, schema, test_files):
    page, user = logged_in
    picture = make_jpeg(test_files / "a.jpg", size=(32, 24))
    item = _item(org, user, test_files, item_type=ItemType.IMAGE, name="a.jpg", url=picture.as_uri(),
                 mime_type="image/jpeg", client_metadata={"site": "Algiers"})
    page.goto(f"{live_server.url}/items/{item.pk}/")
    form = page.locator("#metadata-form")
    expect(form.locator("tr[data-key=clip] .readonly")).to_have_text("—")
    expect(form.locator("tr[data-key=site]")).to_have_attribute("data-type", "untyped")

    form.locator('[name="key/weather"]').select_option("sun")
    form.locator('[name="key/seen"]').fill("2026-03-01T10:30")
    form.locator('[name="key/run"]').fill("not-a-uuid")
    form.get_by_role("button", name="Save changes").click()

    expect(page.locator("#metadata-form tr[data-key=run] .errors")).to_have_text(
        'key "run": expected uuid, got "not-a-uuid"')
    assert _metadata(item) == {"site": "Algiers"}
    assert MetadataChange.objects.count() == 0
    page.screenshot(path="/tmp/loupe-item-metadata-form.png", full_page=True)

    page.locator('#metadata-form [name="key/run"]').fill("")
    page.locator("#metadata-form").get_by_role("button", name="Save changes").click()

    expect(page.locator(".messages li")).to_have_text("Metadata saved (merge: seen, weather).")
    assert _metadata(item) == {"site": "Algiers", "weather": "sun", "seen": "2026-03-01T10:30:00+00:00"}
    expect(page.locator('#metadata-form [name="key/weather"]')).to_have_value("sun")
    expect(page.locator('#metadata-form [name="key/seen"]')).to_have_value("2026-03-01T10:30")
    expect(page.locator("#item-metadata")).to_be_hidden()  # the JSON tab is not the open one

    page.get_by_text("History (1)").click()
    change = page.locator("#history-table tr.change")
    expect(change).to_have_count(1)
    expect(change.locator(".who")).to_have_text("browser@example.com")
    expect(change.locator(".action")).to_have_text("Merged")
    expect(change.locator(".diff li")).to_have_text([
        'seen: — → "2026-03-01T10:30:00+00:00"', 'weather: — → "sun"'])

    page.once("dialog", lambda dialog: dialog.accept())
    change.get_by_role("button", name="Revert").click()

    expect(page.locator("#history-table tr.change")).to_have_count(2)
    expect(page.locator("#history-table tr.change").first.locator(".action")).to_contain_text("Reverted")
    expect(page.locator('#metadata-form [name="key/weather"]')).to_have_value("")
    assert _metadata(item) == {"site": "Algiers"}
    page.screenshot(path="/tmp/loupe-item-metadata.png", full_page=True)


def test_video_frame_entries_seek_and_show_key_frame_metadata(logged_in, live_server, org, test_files):
    page, user = logged_in
    video = make_mp4(test_files / "clip.mp4", frames=30, fps=10, size=(64, 48))
    item = _item(org, user, test_files, item_type=ItemType.VIDEO, name="clip.mp4", url=video.as_uri(),
                 mime_type="video/mp4", fps=10, frame_count=30, duration=3.0)
    from apps.metadata.services.updates import item_metadata_replace

    item_metadata_replace(user=user, item=item, metadata={"$encord": {"frames": {"15": {"cars": 4}}}})
    page.goto(f"{live_server.url}/items/{item.pk}/?frame=15")
    page.wait_for_function("() => document.querySelector('#viewer-video').readyState >= 1")

    entries = page.locator("#frame-entries .entry")
    expect(entries).to_have_text(["0 · 0.00 s", "10 · 1.00 s", "★ 15 · 1.50 s", "20 · 2.00 s"])
    expect(page.locator("#frame-entry-metadata")).to_have_text('Key frame 15\n{\n  "cars": 4\n}')
    page.wait_for_function("() => Math.abs(document.querySelector('#viewer-video').currentTime - 1.5) < 0.01")
    entries.nth(3).click()
    page.wait_for_function("() => Math.abs(document.querySelector('#viewer-video').currentTime - 2.0) < 0.01")
    expect(page.locator("#frame-entry-metadata")).to_have_text("Sampled frame 20 (no metadata of its own)")
    expect(entries.nth(2)).to_have_attribute("title", 'Key frame 15: {"cars": 4}')
