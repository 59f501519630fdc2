"""The integrations page says which directories of the server ``file://`` URLs may read
(``LOUPE_LOCAL_ROOTS``) and where uploads are kept, so nobody has to guess why a ``file://`` entry was
refused."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest


def _section(html: str) -> str:
    match = re.search(r'<section class="card" id="local-roots">(.*?)</section>', html, re.DOTALL)
    assert match, "no #local-roots section"
    return " ".join(unescape(re.sub(r"<[^>]+>", "", match.group(1))).split())


@pytest.fixture
def member_client(client, org, make_user):
    client.force_login(make_user(org))
    return client


def test_lists_the_allowed_directories_resolved_and_checked(member_client, settings, test_files):
    real = test_files / "dashcam"
    real.mkdir()
    link = test_files / "cam-link"
    link.symlink_to(real)
    missing = test_files / "not-there"
    settings.LOUPE_LOCAL_ROOTS = [str(real), str(link), str(missing)]

    response = member_client.get("/integrations/")

    assert response.status_code == 200
    uploads = str(Path(settings.MEDIA_ROOT, "uploads").resolve()) + "/"
    assert _section(response.content.decode()) == (
        "file:// URLs may read files inside these directories (LOUPE_LOCAL_ROOTS), through the built-in "
        f"integration: {real} {link} (that is {real}) {missing} does not exist on the server "
        "The server's administrator sets the list when starting Loupe, as absolute paths separated by :, "
        "e.g. LOUPE_LOCAL_ROOTS=/data/dashcam:/mnt/scans make run. Symlinks are resolved and paths that "
        "leave a directory are refused. The import format is described in docs/import-format.md of "
        "Loupe's repository. "
        f"Files uploaded through Loupe (drag and drop on a folder page) are stored in {uploads}."
    )


def test_says_file_urls_are_off_and_how_to_turn_them_on(member_client, settings):
    settings.LOUPE_LOCAL_ROOTS = []

    section = _section(member_client.get("/integrations/").content.decode())

    assert section.startswith("file:// URLs are off: no directory of this server is allowed. "
                              "The server's administrator sets the list when starting Loupe")
    assert "LOUPE_LOCAL_ROOTS=/data/dashcam:/mnt/scans make run" in section


def test_uploads_in_s3_media_storage_show_the_bucket_prefix(member_client, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": "media-bucket", "endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1",
        "access_key": "k", "secret_key": "s", "location": "loupe", "default_acl": None}}}

    section = _section(member_client.get("/integrations/").content.decode())

    assert section.endswith("Files uploaded through Loupe (drag and drop on a folder page) are stored in "
                            "s3://media-bucket/loupe/uploads/.")
