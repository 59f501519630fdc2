"""The built-in ``text`` embedding of text and PDF items, so sentence search over documents works out of the box.

``items_text_embed`` runs in the workers after a probe (``apps.storage.hooks.items_probed`` enqueues
``similarity.items_text_embed`` once per probe task, so up to ``PROBE_TASK_ITEMS`` items arrive
together and the model runs on them as one batch). What a caller may rely on:

* **The key**: the organisation's ``text`` key (embedding, 384-d, built-in text embedder), declared
  through the schema service the first time it is needed (``schema_builtin_text_key_ensure``). When
  an admin took that name for something else, nothing is written (logged).
* **What is read**: a text item's probe snippet (its first 2,000 characters; the file's first
  ``TEXT_CHARS`` when there is none); a PDF's text layer from its first ``PDF_PAGES`` pages (pypdf), cut at
  ``TEXT_CHARS``. The model reads at most 256 word pieces (about 1,000 to 1,500 characters of prose),
  so reading more would only cost time. Items with no text (empty file, scanned PDF) get no vector.
* **Idempotent**: only ready, live text/PDF items without a vector on the key are embedded; a re-run
  or a second worker finds nothing left to do. Vectors are written with an upsert that skips items
  deleted meanwhile. Files that cannot be read are logged and skipped (the probe already reported
  any fetch failure on the item).
* No history row is written: like probe facts, the vector is derived from the content, not a user's
  metadata change. It shows in the item's metadata under ``text`` as every embedding does.
"""

from __future__ import annotations

import logging
import tempfile
from collections import defaultdict
from pathlib import Path

from django.db import connection, transaction

from apps.metadata.models import Embedding, MetadataKey
from apps.metadata.services.schema import schema_builtin_text_key_ensure
from apps.storage.fetching import FetchError
from apps.storage.models import Item, ItemStatus, ItemType
from apps.storage.previews import PreviewError, text_snippet
from apps.storage.services.media_files import url_file_to_local

logger = logging.getLogger(__name__)

TEXT_CHARS = 4000  # read per item: well past the model's 256 word pieces, in any language
PDF_PAGES = 3  # pages whose text layer a PDF contributes (a title page alone is often nearly empty)
EMBED_BATCH = 64  # items embedded and written per round: ~2 s of model time for long texts on one core
BACKFILL_TASK_ITEMS = 25  # items per task a backfill enqueues, as many as a probe task hands over
TEXT_TYPES = (ItemType.TEXT, ItemType.PDF)


def items_text_embed(*, item_ids: list) -> int:
    """Embed the given items' text with the built-in model on their organisation's ``text`` key.

    Returns how many vectors were written (items already done, not ready, deleted, of another type
    or without text are skipped).
    """
    items = list(
        Item.objects.filter(pk__in=list(item_ids), item_type__in=TEXT_TYPES, status=ItemStatus.READY,
                            deleted_at__isnull=True)
        .select_related("organisation", "integration").order_by("pk")
    )
    by_organisation = defaultdict(list)
    for item in items:
        by_organisation[item.organisation_id].append(item)
    written = 0
    for organisation_items in by_organisation.values():
        key = schema_builtin_text_key_ensure(organisation=organisation_items[0].organisation)
        if key is None:
            logger.info("organisation %s: its key %r is not the built-in text key; no text embeddings written",
                        organisation_items[0].organisation_id, "text")
            continue
        todo = _without_vector(key, organisation_items)
        for start in range(0, len(todo), EMBED_BATCH):
            written += _embed_batch(key, todo[start:start + EMBED_BATCH])
    return written


def _without_vector(key: MetadataKey, items: list[Item]) -> list[Item]:
    done = set(Embedding.objects.filter(key=key, item__in=items, frame__isnull=True).values_list("item_id", flat=True))
    return [item for item in items if item.pk not in done]


def _embed_batch(key: MetadataKey, items: list[Item]) -> int:
    from apps.similarity.text_model import text_embed

    texts = {}
    for item in items:
        text = item_text(item)
        if text.strip():
            texts[item.pk] = text
    if not texts:
        return 0
    vectors = text_embed(list(texts.values()))
    rows = ([str(pk) for pk in texts], ["[" + ",".join(repr(float(x)) for x in v) + "]" for v in vectors])
    return _vectors_upsert(key, *rows)


def _vectors_upsert(key: MetadataKey, item_ids: list[str], vectors: list[str]) -> int:
    # One statement for the batch. Joining storage_item (locked FOR KEY SHARE) skips items deleted
    # since they were read instead of failing the foreign key; the upsert makes a re-run harmless.
    sql = (
        f"INSERT INTO {Embedding._meta.db_table} (key_id, item_id, frame, vector) "
        "SELECT %s, i.uuid, NULL, v.vector::vector FROM unnest(%s::uuid[], %s::text[]) AS v(item_id, vector) "
        "JOIN storage_item i ON i.uuid = v.item_id FOR KEY SHARE OF i "
        "ON CONFLICT ON CONSTRAINT unique_embedding_key_item_frame DO UPDATE SET vector = EXCLUDED.vector"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [key.pk, item_ids, vectors])
        return cursor.rowcount


def item_text(item: Item) -> str:
    """The text the built-in embedding reads from a text or PDF item ("" when it has none or cannot be read)."""
    snippet = item.media_info.get("snippet")
    if item.item_type == ItemType.TEXT and isinstance(snippet, str):
        # The probe's first 2,000 characters: past 256 word pieces for any prose, and no second download.
        return snippet
    with tempfile.TemporaryDirectory(prefix="loupe-text-") as directory:
        try:
            local = url_file_to_local(url=item.url, integration=item.integration, directory=Path(directory),
                                      organisation_id=item.organisation_id)
            if item.item_type == ItemType.PDF:
                return pdf_text(local)
            return text_snippet(source=local, max_chars=TEXT_CHARS)
        except (FetchError, PreviewError, OSError, ValueError) as exc:
            logger.warning("item %s: its text could not be read for the built-in embedding: %s", item.pk, exc)
            return ""


def pdf_text(path: Path, *, pages: int = PDF_PAGES, max_chars: int = TEXT_CHARS) -> str:
    """The text layer of a PDF's first ``pages`` pages, whitespace collapsed, cut at ``max_chars``."""
    import pypdf

    reader = pypdf.PdfReader(path, strict=False)
    parts: list[str] = []
    length = 0
    for page in reader.pages[:pages]:
        try:
            text = " ".join((page.extract_text() or "").split())
        except Exception as exc:  # pypdf raises many types on damaged content streams; one page is not worth failing
            logger.info("%s: a page's text could not be extracted: %s", path.name, exc)
            continue
        if text:
            parts.append(text)
            length += len(text) + 1
        if length >= max_chars:
            break
    return " ".join(parts)[:max_chars]


def items_text_embed_backfill(*, organisation_id=None) -> int:
    """Enqueue the built-in embedding of every ready, live text or PDF item that has none yet (of one
    organisation, or of all): items imported before this existed, or registered with their media facts
    and so never probed. Returns how many items were enqueued; the tasks skip any done meanwhile."""
    from apps.similarity.tasks import items_text_embed_task

    items = Item.objects.filter(item_type__in=TEXT_TYPES, status=ItemStatus.READY, deleted_at__isnull=True)
    if organisation_id is not None:
        items = items.filter(organisation_id=organisation_id)
    done = Embedding.objects.filter(key__name="text", key__embedder="builtin_text", frame__isnull=True)
    pks = [str(pk) for pk in items.exclude(pk__in=done.values("item_id")).order_by("pk").values_list("pk", flat=True)]
    for start in range(0, len(pks), BACKFILL_TASK_ITEMS):
        items_text_embed_task.delay(pks[start:start + BACKFILL_TASK_ITEMS])
    return len(pks)
