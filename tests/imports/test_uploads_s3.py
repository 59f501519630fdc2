"""Uploads with S3-compatible media storage (moto's S3 server on loopback): the stored objects are
registered as s3:// URLs under the organisation's "Loupe storage" integration, read back through it
for probing, and their previews are written to the same bucket."""

from __future__ import annotations

import socket
import uuid

import boto3
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from moto.server import ThreadedMotoServer

from apps.storage.models import Item, ItemStatus, StorageIntegration, StorageIntegrationKind
from apps.storage.services.folders import folder_create
from apps.imports.services.imports import import_job_run
from apps.storage.services.integrations import s3_credentials
from apps.storage.services.processing import item_probe
from apps.imports.services.uploads import upload_create
from tests.media_factory import make_jpeg


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_endpoint, settings):
    """A fresh bucket made Django's default storage; yields a boto3 client and the bucket name."""
    bucket = f"loupe-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    client.create_bucket(Bucket=bucket)

    def use(location: str = "") -> None:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
                "bucket_name": bucket, "endpoint_url": s3_endpoint, "region_name": "us-east-1",
                "access_key": "test", "secret_key": "test", "location": location, "default_acl": None,
                "querystring_auth": True, "file_overwrite": False,
            }},
        }

    use()
    return {"client": client, "bucket": bucket, "endpoint": s3_endpoint, "use": use}


@pytest.fixture
def owner_folder(org, make_user):
    owner = make_user(org, email="owner@example.com")
    return owner, folder_create(user=owner, name="uploads here", organisation=org)


def _keys(client, bucket: str, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for obj in listed.get("Contents", []))


def test_upload_is_stored_in_the_bucket_registered_as_s3_and_probed(db, s3_storage, owner_folder, tmp_path):
    owner, folder = owner_folder
    client, bucket = s3_storage["client"], s3_storage["bucket"]
    jpeg = make_jpeg(tmp_path / "photo.jpg", size=(64, 48)).read_bytes()

    job = upload_create(user=owner, folder=folder, files=[ContentFile(jpeg, name="photo.jpg")])

    [key] = _keys(client, bucket, f"uploads/{folder.organisation_id}/{folder.pk}/")
    prefix, organisation_part, folder_part, file_uuid, name = key.split("/")
    assert (prefix, organisation_part, folder_part, name) == (
        "uploads", str(folder.organisation_id), str(folder.pk), "photo.jpg")
    uuid.UUID(file_uuid)
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == jpeg
    integration = job.integration
    assert (integration.name, integration.kind, integration.endpoint_url, integration.region,
            integration.client_only, integration.organisation_id) == (
        "Loupe storage", StorageIntegrationKind.S3, s3_storage["endpoint"], "us-east-1", False,
        folder.organisation_id)
    credentials = s3_credentials(integration)
    assert (credentials.access_key_id, credentials.secret_access_key) == ("test", "test")

    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.failed) == ("DONE", 1, 1, 0)
    item = Item.objects.get(folder=folder)
    assert (item.url, item.integration_id, item.status) == (f"s3://{bucket}/{key}", integration.pk,
                                                            ItemStatus.PENDING)

    item = item_probe(item_id=item.pk)
    item.refresh_from_db()
    assert (item.status, item.status_reason, item.width, item.height, item.file_size, item.mime_type) == (
        ItemStatus.READY, "", 64, 48, len(jpeg), "image/jpeg")
    assert item.preview == f"previews/{item.pk}/thumb.jpg"
    assert default_storage.exists(item.preview)
    assert _keys(client, bucket, "previews/") == [item.preview]


def test_later_uploads_reuse_the_integration_and_honour_the_key_prefix(
    db, s3_storage, owner_folder, tmp_path
):
    owner, folder = owner_folder
    client, bucket = s3_storage["client"], s3_storage["bucket"]
    s3_storage["use"](location="tenant-a")
    jpeg = make_jpeg(tmp_path / "photo.jpg", size=(32, 16)).read_bytes()

    first = upload_create(user=owner, folder=folder, files=[ContentFile(jpeg, name="a.jpg")])
    second = upload_create(user=owner, folder=folder, files=[ContentFile(jpeg, name="b.jpg")])

    assert first.integration_id == second.integration_id
    integrations = StorageIntegration.objects.filter(organisation=folder.organisation, name="Loupe storage")
    assert integrations.count() == 1
    keys = {k.rsplit("/", 1)[-1]: k for k in _keys(client, bucket, f"tenant-a/uploads/{folder.organisation_id}/{folder.pk}/")}
    assert sorted(keys) == ["a.jpg", "b.jpg"]
    assert _keys(client, bucket, "uploads/") == []
    import_job_run(job_id=first.pk)
    assert Item.objects.get(folder=folder).url == f"s3://{bucket}/{keys['a.jpg']}"
