"""An embedding key's embedder set in a real browser on the schema editor (htmx swaps, :has() visibility)."""

from __future__ import annotations

import pytest

from apps.metadata.models import MetadataKey
from apps.metadata.services.schema import schema_key_add

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(page, live_server, transactional_db, org, make_user):
    user = make_user(org, role="admin", email="embedder-admin@example.com", password="a-long-password-9")
    schema_key_add(user=user, organisation=org, name="clip", type="embedding", size=8)
    schema_key_add(user=user, organisation=org, name="text", type="embedding", size=384)
    page.goto(f"{live_server.url}/login/?next=/metadata/schema/")
    page.fill("input[name=username]", "embedder-admin@example.com")
    page.fill("input[name=password]", "a-long-password-9")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/metadata/schema/")
    return page


def _row(page, name):
    return page.locator(f'#schema-keys tr[data-key="{name}"]')


def test_an_admin_sets_an_http_embedder_and_the_built_in_model(admin_page):
    page = admin_page
    clip = _row(page, "clip")
    assert clip.locator(".for-http").is_hidden()
    assert clip.locator("option[value=builtin_text]").is_disabled()  # 8-d: the model makes 384-d vectors
    clip.locator("select[name=embedder]").select_option("http")
    assert clip.locator(".for-http").is_visible()
    clip.locator("input[name=embedder_url]").fill("https://embed.example.com/v1")
    clip.locator("input[name=embedder_inputs][value=image]").check()
    clip.locator("input[name=embedder_timeout]").fill("4")
    clip.locator("button:has-text('Set embedder')").click()
    page.wait_for_function("document.querySelector('#schema-keys tr[data-key=clip] .key-embedder').innerText"
                           ".includes('embed.example.com')")
    assert _row(page, "clip").locator(".key-embedder").inner_text() == (
        "; embedder: https://embed.example.com/v1 (image, 4.0 s)")

    # A refusal is shown in place and changes nothing.
    _row(page, "clip").locator("input[name=embedder_inputs][value=image]").uncheck()
    _row(page, "clip").locator("button:has-text('Set embedder')").click()
    page.locator("#schema-error").wait_for()
    assert page.locator("#schema-error").inner_text() == 'Say what the endpoint takes: "text", "image" or both.'
    assert MetadataKey.objects.get(name="clip").embedder_inputs == ["image"]

    _row(page, "text").locator("select[name=embedder]").select_option("builtin_text")
    assert _row(page, "text").locator(".for-http").is_hidden()
    _row(page, "text").locator("button:has-text('Set embedder')").click()
    page.wait_for_function("document.querySelector('#schema-keys tr[data-key=text] .key-embedder').innerText"
                           ".includes('built-in')")
    assert MetadataKey.objects.get(name="text").embedder == "builtin_text"
