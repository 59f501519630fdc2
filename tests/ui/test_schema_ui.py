"""The schema editor in a real browser: an admin adds keys, enum values, re-types and deletes."""

from __future__ import annotations

import pytest

from apps.metadata.models import KeyState, MetadataKey
from apps.storage.models import Item, ItemType
from apps.storage.services.folders import folder_create

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(page, live_server, transactional_db, org, make_user):
    """A browser page logged in (through the login form) as an organisation admin, on the schema editor."""
    user = make_user(org, role="admin", email="schema-admin@example.com", password="a-long-password-9")
    page.goto(f"{live_server.url}/login/?next=/metadata/schema/")
    page.fill("input[name=username]", "schema-admin@example.com")
    page.fill("input[name=password]", "a-long-password-9")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/metadata/schema/")
    return page, user


def _row(page, name):
    return page.locator(f'#schema-keys tr[data-key="{name}"]')


def test_add_an_enum_key_then_a_value(admin_page):
    page, _ = admin_page
    assert page.locator("#key-add-form .for-enum").is_hidden()
    page.fill("#key-add-form input[name=name]", "weather")
    page.select_option("#key-add-form select[name=type]", "enum")
    assert page.locator("#key-add-form .for-enum").is_visible()
    assert page.locator("#key-add-form .for-embedding").is_hidden()
    page.fill("#key-add-form input[name=enum_values]", "sun, rain")
    page.click("#key-add-form button[type=submit]")

    _row(page, "weather").wait_for()
    assert _row(page, "weather").locator(".key-details").inner_text() == "rain, sun"
    assert _row(page, "weather").locator(".key-type").inner_text() == "enum"

    _row(page, "weather").locator("input[name=values]").fill("snow")
    _row(page, "weather").locator("button:has-text('Add values')").click()
    page.wait_for_function(
        "document.querySelector('#schema-keys tr[data-key=weather] .key-details').innerText === 'rain, snow, sun'"
    )
    assert MetadataKey.objects.get(name="weather").enum_values == ["rain", "snow", "sun"]

    # A refused add shows the rule in place.
    page.fill("#key-add-form input[name=name]", "weather")
    page.select_option("#key-add-form select[name=type]", "number")
    page.click("#key-add-form button[type=submit]")
    alert = page.locator("#key-add-form [role=alert]")
    alert.wait_for()
    assert alert.inner_text() == 'Key "weather" already exists.'


def test_retype_with_report_then_soft_and_hard_delete(admin_page, org):
    page, user = admin_page
    folder = folder_create(user=user, name="data", organisation=org)
    Item.objects.create(organisation=org, folder=folder, item_type=ItemType.IMAGE, name="a.jpg",
                        client_metadata={"score": 5})
    Item.objects.create(organisation=org, folder=folder, item_type=ItemType.IMAGE, name="b.jpg",
                        client_metadata={"score": "7"})
    page.fill("#key-add-form input[name=name]", "score")
    page.select_option("#key-add-form select[name=type]", "number")
    page.click("#key-add-form button[type=submit]")
    _row(page, "score").wait_for()

    _row(page, "score").locator("select[name=type]").select_option("varchar")
    _row(page, "score").locator("button:has-text('Change type')").click()
    page.locator("#retype-report").wait_for()
    assert page.locator("#retype-counts").inner_text() == "1 of 2 stored values no longer validate"
    assert _row(page, "score").locator(".key-type").inner_text() == "varchar"

    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, "score").locator("button:has-text('Delete')").first.click()
    page.wait_for_function(
        "document.querySelector('#schema-keys tr[data-key=score] .key-state').innerText.includes('Deleted')"
    )
    assert _row(page, "score").locator(".key-details").inner_text() == "was varchar; at most 8192 characters"

    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, "score").locator("button:has-text('Hard delete')").click()
    page.wait_for_function(
        "document.querySelector('#schema-keys tr[data-key=score] .key-state').innerText === 'Hard deleted'"
    )
    assert _row(page, "score").locator("button").count() == 0
    assert MetadataKey.objects.get(name="score").state == KeyState.TOMBSTONE


def test_members_see_the_schema_read_only(page, live_server, transactional_db, org, make_user):
    from apps.metadata.services.schema import schema_key_add

    admin = make_user(org, role="admin")
    schema_key_add(user=admin, organisation=org, name="clip", type="embedding", size=512)
    make_user(org, email="reader@example.com", password="a-long-password-9")
    page.goto(f"{live_server.url}/login/?next=/metadata/schema/")
    page.fill("input[name=username]", "reader@example.com")
    page.fill("input[name=password]", "a-long-password-9")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/metadata/schema/")
    assert _row(page, "clip").inner_text().split("\t") == ["clip", "embedding", "size 512", "Active"]
    assert page.locator("#key-add-form").count() == 0 and page.locator("#schema-keys form").count() == 0
    assert page.locator("header nav a:has-text('Metadata schema')").count() == 1
