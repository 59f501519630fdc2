"""Uploaded files belong to their organisation: another organisation cannot register or read them,
however the ``file://`` URL is spelt (``..``, symlinks, percent-encoding, doubled slashes, a host).

Organisation A uploads a file; organisation B registers A's path in several spellings through a real
import, probes the items like a worker does and asks for their bytes through the content view. B's
items fail with the reason and the content view refuses them; A's own item reads as before. Also when
a local root (``LOUPE_LOCAL_ROOTS``) contains MEDIA_ROOT, and for uploads stored before they were filed
by organisation (``uploads/<folder uuid>/...``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from apps.storage.models import Item, ItemStatus
from apps.storage.services.folders import folder_create
from apps.storage.services.processing import item_probe
from apps.imports.services.uploads import upload_create
from tests.encord_compat.helpers import register
from tests.factories import OrganisationFactory

SECRET = b"organisation A's secret text\n"
REFUSAL = "is outside the folders Loupe may read (LOUPE_LOCAL_ROOTS)."


@pytest.fixture
def tenants(db, org, make_user, client, test_files):
    owner_a = make_user(org, email="a@example.com")
    other = OrganisationFactory(name="Other")
    owner_b = make_user(other, email="b@example.com")
    folder_a = folder_create(user=owner_a, name="a", organisation=org)
    folder_b = folder_create(user=owner_b, name="b", organisation=other)
    job = upload_create(user=owner_a, folder=folder_a, files=[ContentFile(SECRET, name="secret.txt")])
    from apps.imports.services.imports import import_job_run

    import_job_run(job_id=job.pk)
    item_a = Item.objects.get(folder=folder_a)
    item_probe(item_id=item_a.pk)
    uploads = Path(settings.MEDIA_ROOT) / "uploads"
    yield {"a": owner_a, "b": owner_b, "org_b": other, "folder_a": folder_a, "folder_b": folder_b,
           "item_a": item_a, "path": Path(item_a.url.removeprefix("file://")), "uploads": uploads,
           "client": client, "test_files": test_files}
    for name in (org.pk, other.pk, folder_a.pk):
        shutil.rmtree(uploads / str(name), ignore_errors=True)


def _spellings(t) -> dict[str, str]:
    path, uploads, test_files = t["path"], t["uploads"], t["test_files"]
    inside = path.relative_to(uploads)  # <org A>/<folder A>/<uuid>/secret.txt
    org_a = inside.parts[0]
    (test_files / "link.txt").symlink_to(path)
    (test_files / "dir").symlink_to(uploads / org_a)
    return {
        "plain": path.as_uri(),
        "localhost_host": "file://localhost" + str(path),
        "percent_encoded_uuid": f"file://{uploads}/" + "".join(f"%{b:02X}" for b in org_a.encode())
                                + "/" + "/".join(inside.parts[1:]),
        "percent_encoded_slashes": f"file://{uploads}/" + quote(str(inside), safe=""),
        "dot_dot_from_own_directory": f"file://{uploads}/{t['org_b'].pk}/../{inside}",
        "dot_dot_from_own_folder": f"file://{uploads}/{t['folder_b'].pk}/../{inside}",
        "encoded_dot_dot": f"file://{uploads}/{t['org_b'].pk}/%2E%2E/{inside}",
        "double_slashes": "file://" + str(path).replace("/", "//"),
        "dot_segments": f"file://{uploads}/./{org_a}/./" + "/".join(inside.parts[1:]),
        "symlinked_file_in_a_local_root": (test_files / "link.txt").as_uri(),
        "symlinked_directory_in_a_local_root": (test_files / "dir" / Path(*inside.parts[1:])).as_uri(),
    }


def _b_tries(t, spellings: dict[str, str]) -> dict[str, tuple | str]:
    """B registers each URL through a real import, probes the item as a worker does and asks the content
    view for it: per spelling, (status, refusal reason given, content status, secret seen), or
    "refused at registration" when the import refused the entry."""
    names = {f"{name}.txt": name for name in spellings}
    register(t["b"], t["folder_b"], {"text": [{"objectUrl": url, "title": f"{name}.txt"}
                                              for name, url in spellings.items()]})
    client = t["client"]
    client.force_login(t["b"])
    seen = dict.fromkeys(spellings, "refused at registration")
    for item in Item.objects.filter(folder=t["folder_b"]):
        item_probe(item_id=item.pk)
        item.refresh_from_db()
        response = client.get(f"/items/{item.pk}/content")
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen[names[item.name]] = (item.status, REFUSAL in item.status_reason, response.status_code, SECRET in body)
    return seen


REFUSED = (ItemStatus.FAILED, True, 403, False)  # status, reason given, content view, secret seen


def _refused(outcome) -> bool:
    return outcome in (REFUSED, "refused at registration")


def _a_reads(t) -> tuple:
    client = t["client"]
    client.force_login(t["a"])
    item = Item.objects.get(pk=t["item_a"].pk)
    response = client.get(f"/items/{item.pk}/content")
    return item.status, response.status_code, b"".join(response.streaming_content)


def test_another_organisation_cannot_register_or_read_an_upload(tenants):
    spellings = _spellings(tenants)

    seen = _b_tries(tenants, spellings)

    assert {name: outcome for name, outcome in seen.items() if not _refused(outcome)} == {}
    assert len(seen) == 11
    assert _a_reads(tenants) == (ItemStatus.READY, 200, SECRET)


def test_a_local_root_containing_media_root_opens_no_other_organisation(tenants, settings):
    """Not A's upload, nor A's preview, nor A's import file, even with ``/`` as a local root."""
    settings.LOUPE_LOCAL_ROOTS = [*settings.LOUPE_LOCAL_ROOTS, "/"]
    item_a = Item.objects.get(pk=tenants["item_a"].pk)
    media = Path(settings.MEDIA_ROOT)
    preview = media / "previews" / str(item_a.pk) / "thumb.jpg"
    preview.parent.mkdir(parents=True, exist_ok=True)
    preview.write_bytes(SECRET)
    import_file = Path(item_a.import_job.source.path)
    spellings = {"upload": tenants["path"].as_uri(), "preview": preview.as_uri(), "import_file": import_file.as_uri()}

    assert _b_tries(tenants, spellings) == dict.fromkeys(spellings, REFUSED)
    assert _a_reads(tenants) == (ItemStatus.READY, 200, SECRET)


def test_uploads_are_stored_under_their_organisation(tenants):
    inside = tenants["path"].relative_to(tenants["uploads"])
    assert inside.parts[:2] == (str(tenants["folder_a"].organisation_id), str(tenants["folder_a"].pk))


def test_uploads_stored_before_organisation_directories_stay_readable_by_their_own(tenants):
    """``uploads/<folder uuid>/<uuid>/<name>`` (the earlier layout) belongs to the folder's organisation."""
    legacy = tenants["uploads"] / str(tenants["folder_a"].pk) / "0b7c0f9e-1111-4222-8333-444455556666" / "old.txt"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(SECRET)
    old_a = Item.objects.create(organisation=tenants["folder_a"].organisation, folder=tenants["folder_a"],
                                item_type="text", name="old.txt", url=legacy.as_uri(),
                                integration=tenants["item_a"].integration)
    assert _b_tries(tenants, {"legacy": legacy.as_uri()}) == {"legacy": REFUSED}
    item_probe(item_id=old_a.pk)
    old_a.refresh_from_db()
    client = tenants["client"]
    client.force_login(tenants["a"])
    response = client.get(f"/items/{old_a.pk}/content")
    assert (old_a.status, response.status_code, b"".join(response.streaming_content)) == (
        ItemStatus.READY, 200, SECRET)


def test_a_local_root_inside_media_root_still_grants_its_own_files(tmp_path):
    """Loupe's media is private unless a local root inside it says otherwise, precisely."""
    from apps.storage.fetching import FetchError, FetchPolicy, resolve_local_path

    media = tmp_path / "media"
    (media / "datasets").mkdir(parents=True)
    (media / "previews").mkdir()
    (media / "datasets" / "x.txt").write_text("x")
    (media / "previews" / "p.jpg").write_text("p")
    policy = FetchPolicy(local_roots=(tmp_path, media / "datasets"), private_roots=(media,))

    assert resolve_local_path((media / "datasets" / "x.txt").as_uri(), policy=policy) == media / "datasets" / "x.txt"
    with pytest.raises(FetchError) as refused:
        resolve_local_path((media / "previews" / "p.jpg").as_uri(), policy=policy)
    assert refused.value.code == "outside_roots"
