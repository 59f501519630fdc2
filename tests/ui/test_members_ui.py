"""The members page in a real browser: an admin adds someone by email, changes a role, and removes
them after the confirmation (dismissing it changes nothing)."""

from __future__ import annotations

import pytest

from apps.core.models import OrganisationMember
from apps.storage.models import FolderMember, FolderRole
from apps.storage.services.folders import folder_create, folder_member_set

pytestmark = pytest.mark.browser


@pytest.fixture
def admin_page(page, live_server, transactional_db, org, make_user):
    user = make_user(org, role="admin", email="members-admin@example.com", password="a-long-password-9")
    page.goto(f"{live_server.url}/login/?next=/organisation/members/")
    page.fill("input[name=username]", "members-admin@example.com")
    page.fill("input[name=password]", "a-long-password-9")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/organisation/members/")
    return page, user


def _row(page, user):
    return page.locator(f'#members-table tr[data-user="{user.pk}"]')


def test_add_change_and_remove_a_member(admin_page, org, make_user):
    page, admin = admin_page
    newcomer = make_user(None, email="newcomer@example.com")

    page.fill("#member-add-form input[name=email]", "nobody@example.com")
    page.click("#member-add-form button[type=submit]")
    page.locator("#member-add-email-errors").wait_for()
    assert page.locator("#member-add-email-errors").inner_text() == "No Loupe user has this email address."

    page.fill("#member-add-form input[name=email]", "newcomer@example.com")
    page.click("#member-add-form button[type=submit]")
    _row(page, newcomer).wait_for()
    assert _row(page, newcomer).locator("td").nth(4).inner_text() == "0"
    folder = folder_create(user=admin, name="data", organisation=org)
    folder_member_set(user=admin, folder=folder, member=newcomer, role=FolderRole.EDITOR)

    _row(page, newcomer).locator("select[name=role]").select_option("admin")
    _row(page, newcomer).locator("button:has-text('Change')").click()
    page.wait_for_function(
        f"document.querySelector('#members-table tr[data-user=\"{newcomer.pk}\"] select').value === 'admin'"
        f" && document.querySelector('#members-table tr[data-user=\"{newcomer.pk}\"] td:nth-child(5)')"
        ".innerText === '1'"
    )
    assert OrganisationMember.objects.get(organisation=org, user=newcomer).role == "admin"

    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.dismiss()))
    _row(page, newcomer).locator("button:has-text('Remove')").click()
    page.wait_for_timeout(300)
    assert messages == ["Remove newcomer@example.com from Acme? Their access ends now and their 1 folder role "
                        "here is deleted."]
    assert OrganisationMember.objects.filter(organisation=org, user=newcomer).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, newcomer).locator("button:has-text('Remove')").click()
    _row(page, newcomer).wait_for(state="detached")
    assert not OrganisationMember.objects.filter(organisation=org, user=newcomer).exists()
    assert FolderMember.objects.filter(user=newcomer).count() == 0

    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, admin).locator("button:has-text('Remove')").click()
    page.locator("#members-error").wait_for()
    assert page.locator("#members-error").inner_text() == (
        "members-admin@example.com is the last admin of Acme and cannot be removed; make someone else an admin first.")
