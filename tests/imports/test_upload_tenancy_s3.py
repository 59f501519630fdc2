"""Uploads in S3 media storage belong to their organisation too: every organisation's "Loupe storage"
integration carries the same keys, so the object key decides. Organisation B registering A's upload key
(as written, with dot segments, with doubled slashes) through its own "Loupe storage" integration gets
items that fail with the reason and a refused content view; A's item reads as before."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from apps.storage.models import Item, ItemStatus
from apps.storage.services.folders import folder_create
from apps.imports.services.imports import import_job_create_from_data, import_job_run
from apps.storage.services.processing import item_probe
from apps.imports.services.uploads import upload_create
from tests.factories import OrganisationFactory
from tests.media_factory import make_jpeg
from tests.imports.test_uploads_s3 import s3_endpoint, s3_storage  # noqa: F401 (fixtures)

REFUSAL = "is outside the storage this organisation may read."


@pytest.fixture
def tenants(db, s3_storage, org, make_user, tmp_path):  # noqa: F811
    owner_a = make_user(org, email="a@example.com")
    other = OrganisationFactory(name="Other")
    owner_b = make_user(other, email="b@example.com")
    folder_a = folder_create(user=owner_a, name="a", organisation=org)
    folder_b = folder_create(user=owner_b, name="b", organisation=other)
    jpeg = make_jpeg(tmp_path / "photo.jpg", size=(32, 16)).read_bytes()
    job_a = upload_create(user=owner_a, folder=folder_a, files=[ContentFile(jpeg, name="photo.jpg")])
    import_job_run(job_id=job_a.pk)
    item_a = Item.objects.get(folder=folder_a)
    # B has uploaded too, so it holds its own "Loupe storage" integration (the same keys as A's).
    job_b = upload_create(user=owner_b, folder=folder_b, files=[ContentFile(jpeg, name="mine.jpg")])
    import_job_run(job_id=job_b.pk)
    return {"a": owner_a, "b": owner_b, "folder_b": folder_b, "item_a": item_a, "integration_b": job_b.integration,
            "bucket": s3_storage["bucket"]}


def test_another_organisation_cannot_register_or_read_an_s3_upload(tenants, client):
    url = tenants["item_a"].url  # s3://<bucket>/uploads/<org A>/<folder A>/<uuid>/photo.jpg
    bucket_prefix = f"s3://{tenants['bucket']}/"
    key = url.removeprefix(bucket_prefix)
    org_b = str(tenants["folder_b"].organisation_id)
    spellings = {
        "as_written": url,
        "dot_dot": f"{bucket_prefix}uploads/{org_b}/../{key.removeprefix('uploads/')}",
        "dot_segment": f"{bucket_prefix}uploads/./{key.removeprefix('uploads/')}",
        "double_slashes": bucket_prefix + key.replace("/", "//"),
        "preview_of_a": f"{bucket_prefix}previews/{tenants['item_a'].pk}/thumb.jpg",
        "import_file_of_a": f"{bucket_prefix}{tenants['item_a'].import_job.source.name}",
    }
    job = import_job_create_from_data(
        user=tenants["b"], folder=tenants["folder_b"], integration=tenants["integration_b"],
        data={"images": [{"objectUrl": u, "title": f"{name}.jpg"} for name, u in spellings.items()]},
        file_name="steal.json")
    import_job_run(job_id=job.pk)

    client.force_login(tenants["b"])
    seen = dict.fromkeys(spellings, "refused at registration")
    for item in Item.objects.filter(folder=tenants["folder_b"]).exclude(name="mine.jpg"):
        item_probe(item_id=item.pk)
        item.refresh_from_db()
        response = client.get(f"/items/{item.pk}/content")
        seen[item.name.removesuffix(".jpg")] = (item.status, REFUSAL in item.status_reason, response.status_code)
    refused = (ItemStatus.FAILED, True, 403)
    assert {name: outcome for name, outcome in seen.items() if outcome not in (refused, "refused at registration")} == {}

    item_probe(item_id=tenants["item_a"].pk)
    tenants["item_a"].refresh_from_db()
    client.force_login(tenants["a"])
    response = client.get(f"/items/{tenants['item_a'].pk}/content")
    assert (tenants["item_a"].status, response.status_code) == (ItemStatus.READY, 302)
