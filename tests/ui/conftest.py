"""A real browser: Playwright driving Debian's Chromium (/usr/bin/chromium), headless."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def launched_chromium(args: list[str]):
    """Debian's Chromium started by Playwright with ``args``, closed after (a generator for fixtures)."""
    # Playwright's sync API runs an event loop; Django's async-safety check would refuse ORM calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def browser():
    yield from launched_chromium(CHROMIUM_ARGS)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def logged_in(page, live_server, transactional_db, org, make_user):
    """A browser page logged in (through the login form) as an organisation member."""
    user = make_user(org, email="browser@example.com", password="a-long-password-9")
    page.goto(f"{live_server.url}/")
    page.fill("input[name=username]", "browser@example.com")
    page.fill("input[name=password]", "a-long-password-9")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page, user
