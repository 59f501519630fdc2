"""The Duplicates page in Chromium: from the Explorer's link, find duplicates on the worker, keep one."""

from __future__ import annotations

import random

import pytest

from apps.core.services import organisation_member_set
from apps.storage.models import Item
from apps.storage.services.folders import folder_create
from tests.similarity.helpers import flip, hashed_items, random_hash

pytestmark = pytest.mark.browser


def test_find_duplicates_then_keep_one_and_trash_the_rest(logged_in, live_server, org, celery_worker_process):
    page, user = logged_in
    organisation_member_set(organisation=org, user=user, role="admin")
    folder = folder_create(user=user, name="shots", organisation=org)
    rng = random.Random(8)
    base = random_hash(rng)
    hashed_items(org, folder, [base, flip(base, [3, 17]), flip(base, [60]), random_hash(rng)], prefix="shot")

    page.goto(f"{live_server.url}/explore/")
    page.click("a.duplicates-link")
    page.wait_for_selector("#dup-status")
    assert "No scan yet" in page.inner_text("#dup-status")
    page.fill("#dup-threshold", "4")
    page.click("#dup-scan")
    page.wait_for_selector("section.dup-group", timeout=30_000)  # the page refreshes until the scan is done
    assert page.locator("section.dup-group").count() == 1
    names = page.locator("section.dup-group .dup-member .name").all_inner_texts()
    assert sorted(names) == ["shot-000", "shot-001", "shot-002"]
    assert "1 group of 3 items at threshold 4" in page.inner_text("#dup-status")

    page.locator('.dup-member[data-item] >> text=shot-001').locator("xpath=..").locator("button.keep").click()
    page.wait_for_selector("#dup-none")
    assert "moved 2 other items to the trash" in page.inner_text("ul.messages")
    trashed = set(Item.objects.filter(deleted_at__isnull=False).values_list("name", flat=True))
    assert trashed == {"shot-000", "shot-002"}
