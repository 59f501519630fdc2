"""The folder pages in a real browser: log in, create, nest, rename, delete and restore."""

from __future__ import annotations

import re

import pytest

from apps.storage.models import Folder

pytestmark = pytest.mark.browser


def test_anonymous_visitor_is_sent_to_login(page, live_server, transactional_db):
    page.goto(f"{live_server.url}/trash/")
    assert page.url == f"{live_server.url}/login/?next=/trash/"
    assert page.locator("h1").inner_text() == "Log in to Loupe"


def test_log_in_and_create_a_folder(logged_in, live_server):
    page, user = logged_in
    page.fill("#folder-form-slot input[name=name]", "Dashcam 2024")
    page.fill("#folder-form-slot textarea[name=description]", "Front cameras")
    page.click("#folder-form-slot button[type=submit]")

    page.wait_for_url(re.compile(r".*/folders/[0-9a-f-]{36}/$"))
    assert page.locator("#folder-title").inner_text() == "📁 Dashcam 2024"
    folder = Folder.objects.get()
    assert (folder.name, folder.description, folder.created_by_id) == ("Dashcam 2024", "Front cameras", user.pk)
    page.goto(f"{live_server.url}/")
    assert page.locator("#folder-list a").all_inner_texts() == ["📁 Dashcam 2024"]


def test_duplicate_name_shows_the_error_in_place(logged_in, org):
    from apps.storage.services.folders import folder_create

    page, user = logged_in
    folder_create(user=user, name="Same", organisation=org)
    page.fill("#folder-form-slot input[name=name]", "Same")
    page.click("#folder-form-slot button[type=submit]")
    alert = page.locator("#folder-form-slot [role=alert]")
    alert.wait_for()
    assert alert.inner_text() == "A folder named 'Same' already exists here."
    assert Folder.objects.count() == 1


def test_subfolder_rename_delete_and_restore(logged_in, live_server):
    page, user = logged_in
    page.fill("#folder-form-slot input[name=name]", "Parent")
    page.click("#folder-form-slot button[type=submit]")
    page.wait_for_url(re.compile(r".*/folders/.*"))
    parent_url = page.url

    page.click("#new-subfolder summary")
    page.fill("#new-subfolder input[name=name]", "Child")
    page.click("#new-subfolder button[type=submit]")
    page.wait_for_url(lambda url: url != parent_url)
    assert page.locator(".breadcrumbs").inner_text() == "Folders / Parent / Child"
    child_url = page.url

    # Administration is on the settings page, behind the folder page's gear.
    page.click("#folder-settings")
    page.wait_for_url(child_url + "settings/")
    page.fill("#rename-form input[name=name]", "Child renamed")
    page.click("#rename-form button[type=submit]")
    page.wait_for_function("document.querySelector('#folder-title').innerText.includes('renamed')")
    assert page.locator("#folder-title").inner_text() == "⚙ Child renamed"
    assert page.url == child_url + "settings/"
    page.click("#back-to-folder")
    page.wait_for_url(child_url)
    assert page.locator("#folder-title").inner_text() == "📁 Child renamed"
    page.click("#folder-settings")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Move to trash")
    page.wait_for_url(parent_url)
    assert page.locator("#folder-list").inner_text() == "No subfolders."

    page.goto(f"{live_server.url}/trash/")
    assert page.locator("#trash-list tbody td").first.inner_text() == "📁 Child renamed"
    page.click("#trash-list button:has-text('Restore')")
    page.wait_for_load_state()
    assert page.locator("#trash-list tbody").inner_text() == "The trash is empty."
    assert Folder.objects.live().count() == 2
