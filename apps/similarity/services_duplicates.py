"""Writes of the near-duplicate area: frame hashes, duplicate scans (the grouping job) and resolving a group.

What a caller may rely on:

* ``duplicate_scan_start`` validates and creates a scan, and sends its task when the transaction
  commits; starting the same method, key and threshold while such a scan is pending or running
  returns that scan instead of a second one.
* ``duplicate_scan_run`` (the task's service) is idempotent: it finds the pairs, makes the groups
  (connected components) and, in one transaction, replaces this scan's groups and those of every
  earlier scan of the same method and key. A scan that finishes after a newer one of the same method
  already finished keeps its counts but writes no groups (the newer result stays current).
* Only live top-level items take part; blank pictures (flat hashes) never join a group.
* ``duplicate_group_resolve`` trashes every other member the user can see, through the storage trash
  service (editor on their folders; one trash batch restores them).
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import ServiceValidationError
from apps.core.jobs import JobStatus, job_lease_check, job_run
from apps.metadata.models import KeyState, MetadataKey
from apps.metadata.vector_indexes import embedding_index
from apps.similarity.hash_bands import band_masks, connected_groups, hash_pairs_sql
from apps.similarity.models_duplicates import (
    DuplicateGroup, DuplicateMember, DuplicateMethod, DuplicateScan, FrameHash,
)
from apps.storage.models import Item
from apps.storage.phashes import FLAT_HASHES, HASH_BITS
from apps.storage.services.items import items_trash

logger = logging.getLogger(__name__)

HASH_THRESHOLD_DEFAULT = 6  # bits of 64: resized and re-encoded copies sit at 0-4, slight crops near 6
HASH_THRESHOLD_MAX = 10  # bits: a scan of 100,000 hashes takes ~25 s at 10 and ~150 s at 12 (bench/README.md)
EMBEDDING_THRESHOLD_DEFAULT = 0.05  # cosine distance
EMBEDDING_THRESHOLD_MAX = 1.0
EMBEDDING_NEIGHBOURS = 10  # nearest neighbours asked per item: a group larger than this still links up
EMBEDDING_BATCH = 2000  # items whose neighbours one statement asks for (~1 s at 512-d with HNSW)
GROUP_BATCH = 5000  # groups per INSERT when writing a scan's result
SCAN_WORK_MEM = "256MB"  # the per-band hash join of a million hashes fits in memory


# --------------------------------------------------------------------------- frame hashes


def frame_hashes_store(*, item, hashes: dict[int, int]) -> None:
    """Replace ``item``'s video frame hashes by ``hashes`` (frame number -> pHash)."""
    FrameHash.objects.filter(item_id=item.pk).delete()
    FrameHash.objects.bulk_create(
        [FrameHash(item_id=item.pk, frame=frame, phash=phash) for frame, phash in sorted(hashes.items())]
    )


# --------------------------------------------------------------------------- scans


def duplicate_threshold(*, method: str, value) -> float:
    """A threshold read from user input for ``method`` (its default when None); 400 keyed ``threshold``."""
    if method == DuplicateMethod.HASH:
        if value is None or value == "":
            return float(HASH_THRESHOLD_DEFAULT)
        try:
            number = float(str(value))  # "6", 6 and 6.0 (a form's number box) alike
        except ValueError:
            number = -1.0
        bits = int(number) if number.is_integer() else -1  # also refuses NaN and infinities
        if not 0 <= bits <= HASH_THRESHOLD_MAX:
            raise ServiceValidationError({"threshold": f"A hash threshold is a whole number of bits, 0 to "
                                                       f"{HASH_THRESHOLD_MAX} (of {HASH_BITS})."})
        return float(bits)
    if value is None or value == "":
        return EMBEDDING_THRESHOLD_DEFAULT
    try:
        distance = float(str(value))
    except ValueError:
        distance = -1.0
    if not 0 < distance <= EMBEDDING_THRESHOLD_MAX:  # also refuses NaN
        raise ServiceValidationError({"threshold": f"An embedding threshold is a cosine distance above 0 and at "
                                                   f"most {EMBEDDING_THRESHOLD_MAX}."})
    return distance


def duplicate_method_key(*, organisation, method, key_name) -> tuple[str, MetadataKey | None]:
    """(method, embedding key) from user input; 400 keyed ``method`` or ``key``."""
    if method not in DuplicateMethod.values:
        raise ServiceValidationError({"method": f"One of {', '.join(DuplicateMethod.values)}."})
    if method == DuplicateMethod.HASH:
        if key_name not in (None, ""):
            raise ServiceValidationError({"key": "A hash scan takes no key."})
        return method, None
    key = MetadataKey.objects.filter(organisation=organisation, name=key_name, state=KeyState.ACTIVE,
                                     type="embedding").first() if isinstance(key_name, str) else None
    if key is None:
        raise ServiceValidationError({"key": "Name an active embedding key of the schema."})
    return method, key


def duplicate_scan_start(*, user, organisation, method: str, key_name: str | None = None,
                         threshold=None) -> DuplicateScan:
    """Start (or join) a scan of ``organisation`` by ``method`` at ``threshold``; the task runs on commit."""
    method, key = duplicate_method_key(organisation=organisation, method=method, key_name=key_name)
    value = duplicate_threshold(method=method, value=threshold)
    with transaction.atomic():
        running = DuplicateScan.objects.filter(
            organisation=organisation, method=method, key=key, threshold=value,
            status__in=(JobStatus.PENDING, JobStatus.RUNNING),
        ).first()
        if running is not None:
            return running
        scan = DuplicateScan.objects.create(organisation=organisation, method=method, key=key, threshold=value,
                                            created_by=user if getattr(user, "pk", None) else None, total=1)
        transaction.on_commit(lambda: _enqueue(scan.pk))
    return scan


def _enqueue(scan_id) -> None:
    from apps.similarity.tasks import duplicate_scan_run_task

    duplicate_scan_run_task.delay(str(scan_id))


def duplicate_scan_run(*, scan_id) -> DuplicateScan | None:
    """Run the scan ``scan_id`` to its end (the task's service; see the module docstring)."""
    return job_run(model=DuplicateScan, pk=scan_id, work=_scan_work)


def _scan_work(scan: DuplicateScan, owner: str) -> tuple[str, str]:
    started = time.monotonic()
    if scan.method == DuplicateMethod.HASH:
        compared, edges = hash_pairs(organisation_id=scan.organisation_id, threshold=int(scan.threshold))
    else:
        compared, edges = embedding_pairs(key=scan.key, threshold=scan.threshold)
    paired = time.monotonic()
    groups = groups_from_pairs(edges)
    logger.info("scan %s: %s hashes or vectors, %s pairs in %.1f s", scan.pk, compared, len(edges),
                paired - started)
    with transaction.atomic():
        locked = DuplicateScan.objects.select_for_update().get(pk=scan.pk)
        job_lease_check(locked, owner)
        if locked.cancel_requested:
            return JobStatus.CANCELLED, ""
        same = DuplicateScan.objects.filter(organisation_id=scan.organisation_id, method=scan.method,
                                            key_id=scan.key_id).exclude(pk=scan.pk)
        superseded = same.filter(status=JobStatus.DONE, created_at__gt=scan.created_at).exists()
        replaced = [scan.pk] if superseded else [scan.pk, *same.filter(created_at__lte=scan.created_at)
                                                  .values_list("pk", flat=True)]
        _groups_delete(replaced)
        if not superseded:
            _groups_write(scan, groups)
        locked.hashes, locked.pairs = compared, len(edges)
        locked.group_count, locked.item_count = len(groups), sum(len(members) for members, _ in groups)
        locked.seconds, locked.next_index = round(time.monotonic() - started, 3), 1
        locked.heartbeat_at = timezone.now()  # the heartbeat thread waits on this row lock meanwhile
        locked.save(update_fields=["hashes", "pairs", "group_count", "item_count", "seconds", "next_index",
                                   "heartbeat_at", "updated_at"])
    return JobStatus.DONE, ""


def groups_from_pairs(edges: dict[tuple, float]) -> list[tuple[dict, float]]:
    """Connected components of the pairs: [({item: distance to its nearest other member}, largest of
    those)], largest groups first (ties: tighter first)."""
    nearest: dict = {}
    for (a, b), distance in edges.items():
        for node in (a, b):
            if distance < nearest.get(node, float("inf")):
                nearest[node] = distance
    groups = []
    for members in connected_groups(edges.keys()).values():
        distances = {member: nearest[member] for member in members}
        groups.append((distances, max(distances.values())))
    groups.sort(key=lambda group: (-len(group[0]), group[1]))
    return groups


def _groups_delete(scan_ids: list) -> None:
    # Two set-based DELETEs: Django's cascade would first load every member row (100,000s) into Python.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {DuplicateMember._meta.db_table} WHERE group_id IN "
                       f"(SELECT id FROM {DuplicateGroup._meta.db_table} WHERE scan_id = ANY(%s))", [scan_ids])
        cursor.execute(f"DELETE FROM {DuplicateGroup._meta.db_table} WHERE scan_id = ANY(%s)", [scan_ids])


def _groups_write(scan: DuplicateScan, groups: list[tuple[dict, float]]) -> None:
    for start in range(0, len(groups), GROUP_BATCH):
        batch = groups[start:start + GROUP_BATCH]
        rows = DuplicateGroup.objects.bulk_create(
            [DuplicateGroup(scan=scan, size=len(members), distance=distance) for members, distance in batch]
        )
        # COPY: a million-hash scan can write a hundred thousand members.
        with connection.cursor() as cursor:
            copy_sql = f"COPY {DuplicateMember._meta.db_table} (group_id, item_id, distance) FROM STDIN"
            with cursor.copy(copy_sql) as copy:
                for row, (members, _) in zip(rows, batch, strict=True):
                    for item_id, distance in members.items():
                        copy.write_row((row.pk, item_id, distance))


# --------------------------------------------------------------------------- pairs


# Quoted: -9223372036854775808 unquoted is minus a numeric, which would compare every hash as numeric.
_FLAT = ", ".join(f"'{value}'::bigint" for value in sorted(FLAT_HASHES))
# Hashes of the organisation's live top-level items: item-level (images, posters) and video frames.
_SOURCE_SQL = f"""
    SELECT i.uuid, i.phash AS h FROM storage_item i
     WHERE i.organisation_id = %(org)s AND i.parent_id IS NULL AND i.deleted_at IS NULL
       AND i.phash IS NOT NULL AND i.phash NOT IN ({_FLAT})
    UNION
    SELECT i.uuid, f.phash FROM similarity_framehash f JOIN storage_item i ON i.uuid = f.item_id
     WHERE i.organisation_id = %(org)s AND i.parent_id IS NULL AND i.deleted_at IS NULL
       AND f.phash NOT IN ({_FLAT})
"""
# Items are numbered so that the band joins carry 12-byte rows (int item, bigint hash), not uuids.
_TABLES_SQL = f"""
CREATE TEMPORARY TABLE dup_source ON COMMIT DROP AS {_SOURCE_SQL};
CREATE TEMPORARY TABLE dup_items ON COMMIT DROP AS
    SELECT (row_number() OVER (ORDER BY uuid))::int AS item, uuid FROM (SELECT DISTINCT uuid FROM dup_source) u;
CREATE TEMPORARY TABLE dup_hashes ON COMMIT DROP AS
    SELECT i.item, s.h FROM dup_source s JOIN dup_items i USING (uuid);
ANALYZE dup_hashes;
CREATE TEMPORARY TABLE dup_pairs (a int, b int, d int) ON COMMIT DROP;
"""
SCAN_CONNECTIONS = 2  # band joins run on this many connections at once (the database's cores do the work)
PARALLEL_MIN_HASHES = 100_000  # below this one connection is quicker than building the tables twice


def hash_pairs(*, organisation_id, threshold: int,
               connections: int | None = None) -> tuple[int, dict[tuple[uuid.UUID, uuid.UUID], float]]:
    """(hashes compared, {(item a, item b): Hamming distance}) for every pair of the organisation's
    items with some pair of hashes within ``threshold`` bits (the smallest such distance).

    The bands (``hash_bands.band_masks``) are shared among ``connections`` database connections
    (``SCAN_CONNECTIONS`` from ``PARALLEL_MIN_HASHES`` hashes on, else one), each joining its bands
    over its own copy of the hashes. Extra connections read committed rows only: tests that pass
    ``connections`` > 1 need committed data.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({_SOURCE_SQL}) s", {"org": organisation_id})
        count = cursor.fetchone()[0]
    masks = band_masks(hashes=count, threshold=threshold)
    if connections is None:
        connections = SCAN_CONNECTIONS if count >= PARALLEL_MIN_HASHES else 1
    if connections <= 1:
        return count, _band_pairs(organisation_id, threshold, masks)
    shares = [masks[n::connections] for n in range(connections)]
    with ThreadPoolExecutor(max_workers=connections) as pool:
        found = list(pool.map(lambda share: _band_pairs_thread(organisation_id, threshold, share), shares))
    pairs: dict = {}
    for part in found:
        for pair, distance in part.items():
            pairs[pair] = min(distance, pairs.get(pair, distance))
    return count, pairs


def _band_pairs_thread(organisation_id, threshold: int, masks: list[int]) -> dict:
    try:
        return _band_pairs(organisation_id, threshold, masks)
    finally:
        connection.close()  # this thread's own connection


def _band_pairs(organisation_id, threshold: int, masks: list[int]) -> dict:
    """The pairs the bands ``masks`` find, over this connection's own temporary copy of the hashes."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{SCAN_WORK_MEM}'")
        # The planner has no statistics for a band key and, expecting every row to match, prefers a
        # merge join that sorts both sides; one hash build and probe is ~2x cheaper at a million rows.
        cursor.execute("SET LOCAL enable_mergejoin = off")
        cursor.execute(_TABLES_SQL, {"org": organisation_id})
        for mask in masks:
            cursor.execute(f"INSERT INTO dup_pairs {hash_pairs_sql(mask)}", {"threshold": threshold})
        cursor.execute(
            "SELECT ua.uuid, ub.uuid, p.d FROM (SELECT a, b, min(d) AS d FROM dup_pairs GROUP BY a, b) p "
            "JOIN dup_items ua ON ua.item = p.a JOIN dup_items ub ON ub.item = p.b"
        )
        pairs = {}
        for a, b, distance in cursor.fetchall():
            pairs[(a, b) if a < b else (b, a)] = float(distance)
        # ON COMMIT DROP alone would leave them to a caller's enclosing transaction (tests).
        cursor.execute("DROP TABLE dup_pairs, dup_hashes, dup_items, dup_source")
    return pairs


def embedding_pairs(*, key: MetadataKey, threshold: float) -> tuple[int, dict[tuple, float]]:
    """(vectors compared, {(item a, item b): cosine distance}) for items of ``key`` whose vectors are
    within ``threshold``: each item's ``EMBEDDING_NEIGHBOURS`` nearest through the key's HNSW index."""
    index = embedding_index(key)
    neighbour_query = index.query.replace("%s", "e.vector")
    sql = (
        "SELECT e.item_id, n.item_id, n.distance FROM metadata_embedding e "
        "JOIN storage_item i ON i.uuid = e.item_id AND i.deleted_at IS NULL AND i.parent_id IS NULL "
        "CROSS JOIN LATERAL ("
        f"  SELECT o.item_id, (o.vector <=> e.vector) AS distance FROM metadata_embedding o "
        f"   WHERE o.{index.predicate} AND o.frame IS NULL AND o.item_id <> e.item_id "
        f"   ORDER BY {index.column} {index.operator} {neighbour_query} LIMIT %(k)s) n "
        "WHERE e.key_id = %(key)s AND e.frame IS NULL AND e.id > %(after)s AND e.id <= %(until)s "
        "  AND n.distance <= %(threshold)s"
    )
    pairs: dict[tuple, float] = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0), count(*) FROM metadata_embedding WHERE key_id = %s "
                       "AND frame IS NULL", [key.pk])
        last, count = cursor.fetchone()
        cursor.execute("SELECT id FROM metadata_embedding WHERE key_id = %s AND frame IS NULL ORDER BY id",
                       [key.pk])
        ids = [row[0] for row in cursor.fetchall()]
        bounds = [0, *ids[EMBEDDING_BATCH - 1::EMBEDDING_BATCH], last]
        for after, until in zip(bounds, bounds[1:], strict=False):
            if until <= after:
                continue
            with transaction.atomic():
                cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                cursor.execute(sql, {"k": EMBEDDING_NEIGHBOURS, "key": key.pk, "after": after, "until": until,
                                     "threshold": threshold})
                for a, b, distance in cursor.fetchall():
                    pair = (a, b) if a < b else (b, a)
                    pairs[pair] = min(pairs.get(pair, distance), float(distance))
    # Neighbours that are trashed or children are dropped here rather than in the index walk.
    live = set(Item.objects.filter(pk__in={x for pair in pairs for x in pair}, deleted_at__isnull=True,
                                   parent__isnull=True).values_list("pk", flat=True))
    return count, {pair: d for pair, d in pairs.items() if pair[0] in live and pair[1] in live}


# --------------------------------------------------------------------------- resolve


def duplicate_group_resolve(*, user, group: DuplicateGroup, keep: Item,
                            visible_items) -> tuple[int, uuid.UUID | None]:
    """Keep ``keep`` and trash the group's other live members among ``visible_items`` (the items the
    user may see). Returns (items trashed, the trash batch; None when nothing else was left). Refuses (400 ``keep``) a
    ``keep`` that is not a live member; PermissionDenied (from the trash service) for a viewer."""
    members = list(
        visible_items.filter(pk__in=DuplicateMember.objects.filter(group=group).values("item_id"))
        .select_related("folder")
    )
    if keep.pk not in {item.pk for item in members}:
        raise ServiceValidationError({"keep": "Keep one of the group's items."})
    others = [item for item in members if item.pk != keep.pk]
    if not others:
        return 0, None
    return len(others), items_trash(user=user, items=others)
