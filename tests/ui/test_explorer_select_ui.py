"""Selecting on the Explorer page in a real browser and acting on the selection: select all matching and
bulk-edit (exact items changed, each with its history; a refusal shown and nothing changed), shift-click
ranges and plain-click toggles, a >1,000-item edit with its progress bar run by a real Celery worker,
move and trash, and the CSV/JSON downloads; over the 200-item Explorer fixture."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from playwright.sync_api import expect

from apps.core.services import organisation_member_set
from apps.metadata.records import MetadataChange
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.services.folders import folder_create
from tests.explorer.fixtures import build

pytestmark = pytest.mark.browser


@pytest.fixture
def explorer(logged_in, live_server, org):
    page, user = logged_in
    organisation_member_set(organisation=org, user=user, role="admin")
    folder_a, folder_b, _sub, items = build(org, user)
    page.goto(f"{live_server.url}/explore/")
    return page, user, items, {"a": folder_a, "b": folder_b}


def tile_ids(page) -> list[str]:
    return page.locator("#result-grid .result-tile").evaluate_all("tiles => tiles.map(t => t.dataset.item)")


def checked_ids(page) -> list[str]:
    return page.locator("#results .select-item:checked").evaluate_all("boxes => boxes.map(b => b.dataset.item)")


def metadata(org) -> dict:
    return dict(Item.objects.filter(organisation=org).values_list("uuid", "client_metadata"))


def test_select_all_matching_then_bulk_edit_changes_exactly_the_matching_items(explorer, org):
    page, _user, items, _ = explorer
    page.locator('#facets input[name="in:camera"][value="cam1"]').check()
    matching = {i.pk for i in items if i.client_metadata.get("camera") == "cam1"}
    expect(page.locator("#result-count strong")).to_have_text(str(len(matching)))

    page.click("#select-all")
    expect(page.locator("#selection-count")).to_have_text(f"All {len(matching)} items matching selected")
    assert sorted(checked_ids(page)) == sorted(str(pk) for pk in matching)
    page.click("#action-edit")
    dialog = page.locator("#edit-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h2")).to_have_text(f"Edit metadata of {len(matching)} items")

    # A refusal is shown in the dialog and changes nothing.
    before = metadata(org)
    dialog.get_by_label("Merge a JSON object").check()
    dialog.locator("#edit-merge").fill('{"score": "high"}')
    dialog.get_by_role("button", name="Apply").click()
    expect(dialog.locator("[data-errors] li")).to_have_text(re.compile(r'^merge\.score: .*expected number'))
    assert metadata(org) == before and MetadataChange.objects.count() == 0

    # Set the number key score for all matching: sent as the page's filter, never as ids.
    dialog.get_by_label("Set a key").check()
    dialog.locator("#edit-key").select_option("score")
    dialog.locator('.edit-value[data-key="score"] input').fill("0.25")
    with page.expect_request("**/api/v1/explore/bulk-edit?*") as sent:
        dialog.get_by_role("button", name="Apply").click()
    body = sent.value.post_data_json
    assert "items" not in body and body["filter"] == {"and": [{"key": "camera", "op": "in", "value": ["cam1"]}]}
    changed = {pk for pk in matching if before[pk].get("score") != 0.25}
    expect(dialog.locator("[data-result]")).to_have_text(
        f"Edited {len(matching)} items: {len(changed)} items changed.")

    after = metadata(org)
    assert after == {pk: ({**m, "score": 0.25} if pk in matching else m) for pk, m in before.items()}
    history = sorted(MetadataChange.objects.values_list("item_id", "before", "after"), key=lambda r: str(r[0]))
    assert history == sorted([(pk, before[pk], after[pk]) for pk in matching], key=lambda r: str(r[0]))
    # The results were refreshed: a new result set, the selection is gone.
    expect(page.locator("#selection-count")).to_have_text("0 items selected")


def test_shift_click_ranges_plain_click_toggles_and_selection_survives_load_more(explorer, live_server):
    page, _user, _items, _ = explorer
    shown = tile_ids(page)
    assert len(shown) == 60

    def box(n):
        return page.locator(f'.select-item[data-item="{shown[n]}"]')

    box(2).click()
    box(9).click(modifiers=["Shift"])
    expect(page.locator("#selection-count")).to_have_text("8 items selected")
    assert checked_ids(page) == shown[2:10]
    expect(page.locator("#results")).to_have_attribute("data-selecting", "")

    # While selecting, a plain click on a tile toggles it instead of following the link.
    page.locator(f'.result-tile[data-item="{shown[20]}"] .item-name').click()
    box(5).click()
    expect(page.locator("#selection-count")).to_have_text("8 items selected")
    assert checked_ids(page) == shown[2:5] + shown[6:10] + [shown[20]]
    assert page.url == f"{live_server.url}/explore/"
    # A shift-click gives the range from the last toggled box (5) its new state: ticks 5..12.
    box(12).click(modifiers=["Shift"])
    assert checked_ids(page) == shown[2:13] + [shown[20]]
    expect(page.locator("#selection-count")).to_have_text("12 items selected")

    # Load more keeps the pick; new tiles are not in it.
    page.click("#load-more a")
    expect(page.locator("#result-grid .result-tile")).to_have_count(120)
    assert checked_ids(page) == shown[2:13] + [shown[20]]
    expect(page.locator("#selection-count")).to_have_text("12 items selected")

    # "Select all matching", then load more: the new tiles show as selected.
    page.click("#select-all")
    page.click("#load-more a")
    expect(page.locator("#result-grid .result-tile")).to_have_count(180)
    expect(page.locator("#results .select-item:checked")).to_have_count(180)
    expect(page.locator("#selection-count")).to_have_text("All 200 items matching selected")

    # A filter change clears the selection; with nothing selected a plain click opens the side panel
    # (the tile's link, which carries its result, is what Ctrl/Cmd-click opens).
    page.locator('#facets input[name="in:camera"][value="cam2"]').check()
    expect(page.locator("#selection-count")).to_have_text("0 items selected")
    expect(page.locator("#results .select-item:checked")).to_have_count(0)
    first = tile_ids(page)[0]
    page.locator("#select-page").click()
    expect(page.locator("#selection-count")).to_have_text(f"{len(tile_ids(page))} items selected")
    page.click("#select-clear")
    expect(page.locator("#item-panel")).to_be_hidden()
    page.locator(f'.result-tile[data-item="{first}"] .item-name').click()
    expect(page.locator("#item-panel")).to_be_visible()
    expect(page.locator("#panel-item-link")).to_have_attribute("href", re.compile(f"^/items/{first}/"))
    expect(page.locator("#selection-count")).to_have_text("0 items selected")
    href = page.locator(f'.result-tile[data-item="{first}"]').get_attribute("href")
    assert href.startswith(f"/items/{first}/?from=")  # the link carries its result


def test_a_bulk_edit_over_1000_items_shows_its_progress_and_finishes_with_a_worker(
        celery_worker_process, explorer, org):
    page, user, _items, _folders = explorer
    bulk = folder_create(user=user, name="bulk", organisation=org)
    Item.objects.bulk_create([Item(organisation=org, folder=bulk, item_type=ItemType.IMAGE, name=f"b-{n:04d}.jpg",
                                   status=ItemStatus.READY, client_metadata={"n": n}) for n in range(1200)])
    before = metadata(org)
    page.reload()
    page.locator("#scope-folder").select_option(str(bulk.pk))
    expect(page.locator("#result-count strong")).to_have_text("1200")

    page.click("#select-all")
    expect(page.locator("#selection-count")).to_have_text("All 1,200 items matching selected")
    page.click("#action-edit")
    dialog = page.locator("#edit-dialog")
    dialog.locator("#edit-key").select_option("camera")
    dialog.locator('.edit-value[data-key="camera"] select').select_option("cam4")
    polls = []  # every job status response the page polled
    page.on("response", lambda r: polls.append(r) if "/api/v1/metadata/jobs/" in r.url else None)
    dialog.get_by_role("button", name="Apply").click()

    progress = dialog.locator("[data-progress] progress")
    expect(progress).to_be_visible()
    expect(dialog.locator("[data-result]")).to_have_text("Edited 1,200 items: job done.", timeout=60_000)
    assert progress.evaluate("p => [p.value, p.max]") == [1200, 1200]
    expect(dialog.locator("[data-progress-text]")).to_have_text("1,200 of 1,200")
    seen = [(body["status"], body["done"]) for body in (r.json() for r in polls)]
    assert seen[-1] == ("DONE", 1200) and [done for _, done in seen] == sorted(done for _, done in seen)
    assert all(status != "DONE" for status, _ in seen[:-1])  # polled until done, then stopped

    bulk_items = set(Item.objects.filter(folder=bulk).values_list("uuid", flat=True))
    assert metadata(org) == {pk: ({**m, "camera": "cam4"} if pk in bulk_items else m) for pk, m in before.items()}
    assert set(MetadataChange.objects.values_list("item_id", flat=True)) == bulk_items
    assert MetadataChange.objects.count() == 1200


def test_move_and_trash_a_pick_from_the_page(explorer, org):
    page, _user, _items, folders = explorer
    shown = tile_ids(page)
    for pk in shown[:3]:
        page.locator(f'.select-item[data-item="{pk}"]').click()
    page.click("#action-move")
    dialog = page.locator("#move-dialog")
    expect(dialog.locator("h2")).to_have_text("Move 3 items to a folder")
    dialog.locator("#move-destination").select_option(str(folders["b"].pk))
    dialog.get_by_role("button", name="Move").click()
    expect(dialog.locator("[data-result]")).to_have_text("Moved 3 items.")
    assert set(Item.objects.filter(pk__in=shown[:3]).values_list("folder_id", flat=True)) == {folders["b"].pk}
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    expect(page.locator("#selection-count")).to_have_text("0 items selected")
    for pk in shown[3:5]:
        page.locator(f'.select-item[data-item="{pk}"]').click()
    page.click("#action-trash")
    dialog = page.locator("#trash-dialog")
    expect(dialog.locator("h2")).to_have_text("Move 2 items to the trash?")
    dialog.get_by_role("button", name="Move to trash").click()
    expect(dialog.locator("[data-result]")).to_have_text("Moved 2 items to the trash.")
    trashed = set(Item.objects.filter(organisation=org, deleted_at__isnull=False).values_list("uuid", flat=True))
    assert {str(pk) for pk in trashed} == set(shown[3:5])
    expect(page.locator("#result-count strong")).to_have_text("198")
    assert not set(tile_ids(page)) & {str(pk) for pk in trashed}


def test_download_the_selection_as_csv_and_as_json(explorer):
    page, _user, items, _ = explorer
    shown = tile_ids(page)
    for pk in shown[:4]:
        page.locator(f'.select-item[data-item="{pk}"]').click()
    with page.expect_download() as download:
        page.click("#action-csv")
    assert download.value.suggested_filename == "selection.csv"
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert sorted(row["uuid"] for row in rows) == sorted(shown[:4])

    page.locator('#facets input[name="in:camera"][value="cam3"]').check()
    expect(page.locator("#selection-count")).to_have_text("0 items selected")
    page.click("#select-all")
    with page.expect_download() as download:
        page.click("#action-json")
    assert download.value.suggested_filename == "selection.json"
    exported = json.loads(download.value.path().read_text(encoding="utf-8"))
    by_uuid = {str(i.pk): i for i in items}
    assert sorted(entry["uuid"] for entry in exported) == sorted(
        str(i.pk) for i in items if i.client_metadata.get("camera") == "cam3")
    assert all(entry["metadata"] == by_uuid[entry["uuid"]].client_metadata for entry in exported)
