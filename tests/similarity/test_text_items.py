"""The built-in ``text`` embedding of text and PDF items: a real import, a real worker, real files."""

from __future__ import annotations

import time

import numpy as np
import pytest

from apps.imports.services.imports import import_job_create_from_data
from apps.metadata.models import Embedding, MetadataKey
from apps.metadata.services.schema import schema_key_add
from apps.similarity.embedders import embed_text, text_keys
from apps.similarity.text_items import items_text_embed, pdf_text
from apps.similarity.text_model import text_embed
from apps.storage.models import Item, ItemStatus
from apps.storage.services.folders import folder_create
from tests.media_factory import make_jpeg, make_pdf, make_text

SETTLE_SECONDS = 90

DOCUMENTS = {
    "harbour.txt": "The harbour handled record container volumes this year, with ships queueing at the cranes.",
    "recipe.txt": "Whisk the eggs with sugar, fold in the flour and bake the sponge cake for twenty minutes.",
    "empty.txt": "",
}
PDF_PAGES = ["Quarterly report on football: the team won the league", "after a penalty shoot-out in the final."]


@pytest.fixture
def admin(org, make_user):
    return make_user(org, role="admin", email="admin@example.com")


@pytest.fixture
def folder(admin, org):
    return folder_create(user=admin, name="docs", organisation=org)


def _vector(item) -> np.ndarray | None:
    row = Embedding.objects.filter(item=item, key__name="text", frame__isnull=True).first()
    return None if row is None else np.array(row.vector, dtype=np.float32)


def _settle(names: list[str]) -> None:
    """Wait until the worker probed every item and embedded the ones with text."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        items = Item.objects.filter(name__in=names)
        if items.count() == len(names) and not items.filter(status=ItemStatus.PENDING).exists():
            with_text = items.exclude(name__in=["empty.txt", "photo.jpg"]).count()
            if Embedding.objects.filter(key__name="text", item__in=items).count() == with_text:
                return
        time.sleep(0.2)
    raise AssertionError(f"not embedded after {SETTLE_SECONDS} s")


def test_imported_text_and_pdf_items_get_a_text_embedding_in_the_worker(
    transactional_db, celery_worker_process, admin, org, folder, test_files
):
    urls = {name: f"file://{make_text(test_files / name, text)}" for name, text in DOCUMENTS.items()}
    pdf = make_pdf(test_files / "report.pdf", pages=2, texts=PDF_PAGES)
    photo = make_jpeg(test_files / "photo.jpg")
    import_job_create_from_data(user=admin, folder=folder, data={
        "text": [{"objectUrl": url, "title": name} for name, url in urls.items()],
        "pdf": [{"objectUrl": f"file://{pdf}", "title": "report.pdf"}],
        "images": [{"objectUrl": f"file://{photo}", "title": "photo.jpg"}],
    })
    _settle([*DOCUMENTS, "report.pdf", "photo.jpg"])

    key = MetadataKey.objects.get(organisation=org, name="text")
    assert (key.type, key.size, key.embedder, key.state) == ("embedding", 384, "builtin_text", "active")
    assert list(text_keys(org)) == [key]
    items = {item.name: item for item in Item.objects.filter(folder=folder)}
    assert _vector(items["empty.txt"]) is None and _vector(items["photo.jpg"]) is None
    expected = text_embed([DOCUMENTS["harbour.txt"], DOCUMENTS["recipe.txt"], " ".join(PDF_PAGES)])
    for name, want in zip(["harbour.txt", "recipe.txt", "report.pdf"], expected, strict=True):
        assert np.abs(_vector(items[name]) - want).max() < 1e-6, name

    # Sentence search works out of the box: the nearest document to a query is the right one.
    for query, best in [("ships in the port", "harbour.txt"), ("baking a cake", "recipe.txt"),
                        ("who won the championship", "report.pdf")]:
        q = np.array(embed_text(key=key, text=query))
        distances = {name: 1 - float(q @ _vector(items[name])) for name in ["harbour.txt", "recipe.txt", "report.pdf"]}
        assert min(distances, key=distances.get) == best, (query, distances)

    # Idempotent: a second run writes nothing and changes nothing.
    before = {row.item_id: list(row.vector) for row in Embedding.objects.filter(key=key)}
    assert items_text_embed(item_ids=[str(item.pk) for item in items.values()]) == 0
    assert {row.item_id: list(row.vector) for row in Embedding.objects.filter(key=key)} == before


def test_pdf_text_reads_the_first_pages_only(tmp_path):
    pdf = make_pdf(tmp_path / "long.pdf", pages=5, texts=[f"page {i} words" for i in range(5)])
    assert pdf_text(pdf) == "page 0 words page 1 words page 2 words"
    assert pdf_text(pdf, pages=5, max_chars=20) == "page 0 words page 1 "
    assert pdf_text(make_pdf(tmp_path / "scan.pdf", pages=1)) == ""


def test_a_text_key_taken_by_an_admin_is_left_alone(db, admin, org, folder, test_files):
    schema_key_add(user=admin, organisation=org, name="text", type="varchar")
    item = Item.objects.create(organisation=org, folder=folder, item_type="text", name="a.txt", status="ready",
                               url=f"file://{make_text(test_files / 'a.txt', 'hello there')}",
                               media_info={"snippet": "hello there"})
    assert items_text_embed(item_ids=[str(item.pk)]) == 0
    assert not Embedding.objects.exists()
    assert MetadataKey.objects.get(name="text").type == "varchar"


def test_the_key_is_declared_once_and_deleted_items_are_skipped(db, org, folder, test_files):
    items = [
        Item.objects.create(organisation=org, folder=folder, item_type="text", name=f"{i}.txt", status="ready",
                            url=f"file://{make_text(test_files / f'{i}.txt', f'note number {i}')}")
        for i in range(3)
    ]
    Item.objects.filter(pk=items[2].pk).delete()
    assert items_text_embed(item_ids=[str(item.pk) for item in items]) == 2
    assert items_text_embed(item_ids=[str(items[0].pk)]) == 0
    assert MetadataKey.objects.filter(name="text").count() == 1
    assert Embedding.objects.count() == 2
    want = text_embed(["note number 0"])[0]
    assert np.abs(_vector(items[0]) - want).max() < 1e-6


def test_the_backfill_command_embeds_items_that_were_never_probed(
    transactional_db, celery_worker_process, org, folder, test_files
):
    from django.core.management import call_command

    supplied = [
        Item.objects.create(organisation=org, folder=folder, item_type="text", name=f"s{i}.txt", status="ready",
                            media_source="supplied", url=f"file://{make_text(test_files / f's{i}.txt', f'supplied {i}')}")
        for i in range(3)
    ]
    trashed = Item.objects.create(organisation=org, folder=folder, item_type="text", name="gone.txt", status="ready",
                                  url=f"file://{make_text(test_files / 'gone.txt', 'gone')}")
    Item.objects.filter(pk=trashed.pk).update(deleted_at="2026-01-01T00:00:00Z")
    call_command("embed_texts", organisation=str(org.pk), stdout=__import__("io").StringIO())
    deadline = time.monotonic() + SETTLE_SECONDS
    while Embedding.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(Embedding.objects.values_list("item_id", flat=True)) == sorted(item.pk for item in supplied)
    from apps.similarity.text_items import items_text_embed_backfill

    assert items_text_embed_backfill(organisation_id=org.pk) == 0
