"""The storage integrations page in a real browser: the ids imports and the Encord SDK name."""

from __future__ import annotations

import pytest

from apps.core.models import OrganisationRole
from apps.core.services import organisation_member_set
from apps.storage.models import StorageIntegration
from apps.storage.services.integrations import integration_builtin_get_or_create

pytestmark = pytest.mark.browser


def test_member_sees_the_ids_but_no_form(logged_in, live_server, org):
    page, user = logged_in
    builtin = integration_builtin_get_or_create(organisation=org)
    page.click("text=Integrations")
    page.wait_for_url(f"{live_server.url}/integrations/")
    assert page.locator("#integrations code.integration-id").all_inner_texts() == [str(builtin.pk)]
    assert page.locator("#integration-form").count() == 0


def test_admin_adds_an_s3_bucket(logged_in, live_server, org):
    page, user = logged_in
    organisation_member_set(organisation=org, user=user, role=OrganisationRole.ADMIN)
    page.goto(f"{live_server.url}/integrations/")
    page.fill("#integration-form input[name=name]", "lab bucket")
    page.fill("#integration-form input[name=endpoint_url]", "http://127.0.0.1:9000")
    page.fill("#integration-form input[name=access_key_id]", "AKIA-TEST")
    page.fill("#integration-form input[name=secret_access_key]", "very-secret")
    page.click("#integration-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/integrations/")

    bucket = StorageIntegration.objects.get(name="lab bucket")
    assert (bucket.kind, bucket.endpoint_url) == ("s3", "http://127.0.0.1:9000")
    ids = page.locator("#integrations code.integration-id").all_inner_texts()
    assert str(bucket.pk) in ids and len(ids) == 2
    assert "very-secret" not in page.content()
