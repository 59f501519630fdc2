"""The import job page: its failed entries are paged with the core keyset paginator, in file order."""

from __future__ import annotations

import html
import json
import re

from django.core.files.base import ContentFile

from apps.imports.services.imports import import_job_create, import_job_run
from apps.storage.services.folders import folder_create


def _page(client, url: str):
    body = client.get(url).content.decode()
    entries = [int(n) for n in re.findall(r"<tr><td>([0-9]+)</td><td><code>", body)]
    found = re.findall(r'<a href="(\?errors_after=[^"]+)"[^>]*>(‹ Previous|Next ›)</a>', body)
    links = {label: html.unescape(href) for href, label in found}
    count = re.search(r"Failed entries \(([0-9]+)\)", body)
    return entries, links, int(count.group(1))


def test_failed_entries_page_forward_and_back_in_file_order(client, db, org, make_user):
    user = make_user(org, email="editor@example.com")
    folder = folder_create(user=user, name="data", organisation=org)
    data = {"images": [{"objectUrl": f"ftp://h/{i}.jpg"} for i in range(45)]}
    job = import_job_create(user=user, folder=folder, fileobj=ContentFile(json.dumps(data).encode(), name="f.json"))
    job = import_job_run(job_id=job.pk)
    client.force_login(user)
    url = f"/imports/{job.pk}/"

    first, first_links, count = _page(client, url)
    second, second_links, _ = _page(client, url + first_links["Next ›"])
    third, third_links, _ = _page(client, url + second_links["Next ›"])
    back, _, _ = _page(client, url + third_links["‹ Previous"])
    forged, _, _ = _page(client, url + "?errors_after=forged")

    assert (job.failed, count) == (45, 45)
    assert (first, second, third) == (list(range(20)), list(range(20, 40)), list(range(40, 45)))
    assert [set(first_links), set(second_links), set(third_links)] == [
        {"Next ›"}, {"‹ Previous", "Next ›"}, {"‹ Previous"}]
    assert back == second and forged == first
