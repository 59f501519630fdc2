#!/usr/bin/env python
"""Duplicate groups over many perceptual hashes: the hash scan's time and the groups it finds.

    DATABASE_URL=postgres://.../loupe_bench_duplicates python bench/bench_duplicates.py --items 1000000
        [--threshold 6] [--threshold 4 ...]

Builds the organisation ``Bench duplicates N`` when missing: N top-level image items whose ``phash``
is set in ONE ``INSERT ... SELECT generate_series`` per chunk (no files, no probing: this measures the
grouping). Hashes are uniformly random 64-bit values (md5 of the item number), except that in every
block of 20 items the 2nd and 3rd are planted near-duplicates of the 1st, with ``g % 7`` (0..6) bits
flipped each; so N/20 groups of 3 are planted at up to 6 bits. Then runs ``duplicate_scan_run`` (the
task's service, in this process) once per threshold and prints hashes, bands, pairs, groups, items in
groups, planted groups recovered, and the time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explorer_fixture import django_setup  # noqa: E402

BLOCK = 20  # items per block: one original, two planted copies, seventeen unrelated
_CHUNK = 250_000

# base(n): 64 random bits from md5; a copy flips (g % 7) distinct bits (positions g*7 + j*9 mod 64).
_INSERT_SQL = """
INSERT INTO storage_item (uuid, item_type, name, status, folder_id, organisation_id, phash, created_at, updated_at)
SELECT md5(%(org)s || g::text)::uuid, 'image', 'pic-' || lpad(g::text, 7, '0') || '.jpg', 'ready',
       %(folder)s::uuid, %(org)s::uuid,
       CASE WHEN g %% 20 IN (1, 2) THEN
              ('x' || substr(md5('h' || (g - g %% 20)::text), 1, 16))::bit(64)::bigint
              # coalesce((SELECT bit_or(1::bigint << ((g * 7 + j * 9) %% 64)) FROM generate_series(0, g %% 7 - 1) j), 0)
            ELSE ('x' || substr(md5('h' || g::text), 1, 16))::bit(64)::bigint END,
       now(), now()
  FROM generate_series(%(start)s::int, %(stop)s::int) g
"""


def fixture(items: int):
    from django.db import connection, transaction

    from apps.core.models import Organisation, User
    from apps.core.services import organisation_member_set
    from apps.storage.models import Folder, Item
    from apps.storage.services.folders import folder_create

    organisation, _ = Organisation.objects.get_or_create(name=f"Bench duplicates {items}")
    admin = User.objects.filter(email=f"bench-dup-{items}@example.com").first()
    if admin is None:
        admin = User.objects.create_user(email=f"bench-dup-{items}@example.com", password="bench-pw-1")
        organisation_member_set(organisation=organisation, user=admin, role="admin")
    folder = Folder.objects.filter(organisation=organisation, parent=None).first() or folder_create(
        user=admin, name="pictures", organisation=organisation)
    have = Item.objects.filter(organisation=organisation).count()
    if have < items:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for start in range(have, items, _CHUNK):
                with transaction.atomic():
                    cursor.execute(_INSERT_SQL, {"org": str(organisation.pk), "folder": str(folder.pk),
                                                 "start": start, "stop": min(items, start + _CHUNK) - 1})
            cursor.execute("VACUUM ANALYZE storage_item")
        print(f"built {items - have:,} items in {time.perf_counter() - started:.1f} s")
    return organisation, admin


def planted_recovered(scan, items: int) -> int:
    """Planted blocks whose three items are all in one group of the scan."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT substring(i.name from 5 for 7)::int / %s AS block, m.group_id "
            "FROM similarity_duplicatemember m JOIN similarity_duplicategroup gr ON gr.id = m.group_id "
            "JOIN storage_item i ON i.uuid = m.item_id WHERE gr.scan_id = %s "
            "AND substring(i.name from 5 for 7)::int %% %s IN (0, 1, 2) "
            "GROUP BY 1, 2 HAVING count(*) = 3) t", [BLOCK, scan.pk, BLOCK])
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--threshold", type=int, action="append")
    args = parser.parse_args()
    django_setup()
    import os

    from apps.similarity.hash_bands import band_masks
    from apps.similarity.models import DuplicateScan
    from apps.similarity.services_duplicates import duplicate_scan_run

    organisation, admin = fixture(args.items)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {args.items:,} hashes, "
          f"{(args.items + BLOCK - 1) // BLOCK:,} planted groups of 3")
    for threshold in args.threshold or [6]:
        scan = DuplicateScan.objects.create(organisation=organisation, method="hash", threshold=threshold,
                                            created_by=admin, total=1)
        started = time.perf_counter()
        scan = duplicate_scan_run(scan_id=scan.pk)
        elapsed = time.perf_counter() - started
        bands = len(band_masks(hashes=scan.hashes, threshold=threshold))
        print(f"threshold {threshold:2d}: {scan.status} in {elapsed:6.1f} s (grouping {scan.seconds:.1f} s), "
              f"{bands} bands, {scan.pairs:,} pairs, {scan.group_count:,} groups, {scan.item_count:,} items, "
              f"planted recovered {planted_recovered(scan, args.items):,}; load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
