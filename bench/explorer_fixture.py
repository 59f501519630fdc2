"""A large Explorer data set built in SQL in seconds, for bench_facets.py and bench_bulk_edit.py.

``fixture(items=N)`` gives (organisation, admin, folders) of the organisation ``Bench explorer N``,
creating it when missing: an admin, ``FOLDERS`` folders, the schema declared through
``schema_key_add`` and N top-level items inserted with ONE ``INSERT ... SELECT generate_series``
(no import job: this measures reads and metadata writes, not registration). Run it against your own
database (``DATABASE_URL=.../loupe_bench_facets``): it writes a million rows.

Each item's ``client_metadata`` holds up to 8 keys with skewed, partly missing values: ``camera``
(enum of 12, Zipf-like), ``weather`` (enum of 5), ``score`` (number 0-1), ``night`` (boolean),
``captured`` (datetime over two years, ISO 8601 with Z), ``site`` (varchar, 300 values), ``session``
(varchar, ~N/20 values) and ``speed`` (undeclared: a number, sometimes a string).
"""

from __future__ import annotations

import time

from django.db import connection, transaction

FOLDERS = 8
CAMERAS = [f"cam{n}" for n in range(1, 13)]
WEATHER = ["sunny", "cloudy", "rain", "snow", "fog"]
SCHEMA = {"camera": ("enum", CAMERAS), "weather": ("enum", WEATHER), "score": ("number", None),
          "night": ("boolean", None), "captured": ("datetime", None), "site": ("varchar", None),
          "session": ("varchar", None)}

# random() after setseed() in the same statement's session: the same rows every build.
_INSERT_SQL = """
INSERT INTO storage_item (uuid, item_type, name, client_metadata, status, width, height, file_size,
                          folder_id, organisation_id, created_at, updated_at)
SELECT md5(%(org)s || g::text)::uuid,
       CASE WHEN g %% 5 = 0 THEN 'video' ELSE 'image' END,
       'frame-' || lpad(g::text, 7, '0') || '.jpg',
       jsonb_strip_nulls(jsonb_build_object(
         'camera', CASE WHEN g %% 9 <> 0 THEN 'cam' || (1 + floor(12 * power(random(), 2.2)))::int END,
         'weather', (ARRAY['sunny','sunny','sunny','cloudy','cloudy','rain','snow','fog'])[1 + floor(random() * 8)::int],
         'score', CASE WHEN g %% 10 <> 0 THEN round(random()::numeric, 4) END,
         'night', CASE WHEN g %% 3 <> 0 THEN random() < 0.35 END,
         'captured', CASE WHEN g %% 4 <> 0 THEN to_char((timestamptz '2024-01-01 00:00:00+00'
                      + (random() * 730 * 86400) * interval '1 second') AT TIME ZONE 'UTC',
                      'YYYY-MM-DD"T"HH24:MI:SS"Z"') END,
         'site', CASE WHEN g %% 6 <> 0 THEN 'site-' || floor(300 * power(random(), 1.5))::int END,
         'session', 's-' || (g / 20)::text,
         'speed', CASE WHEN g %% 7 = 0 THEN to_jsonb(floor(random() * 120)::int || ' km/h')
                       WHEN g %% 7 < 4 THEN to_jsonb(floor(random() * 120)::int) END)),
       'ready', 640 + (g %% 4) * 640, 480 + (g %% 4) * 360, 20000 + (g::bigint * 7919) %% 5000000,
       (%(folders)s::uuid[])[1 + g %% %(nfolders)s], %(org)s::uuid,
       timestamptz '2025-01-01 00:00:00+00' + g * interval '20 second',
       timestamptz '2025-01-01 00:00:00+00' + g * interval '20 second'
  FROM generate_series(%(start)s::int, %(stop)s::int) g
"""
_CHUNK = 250_000


def fixture(*, items: int, log=print):
    """(organisation, admin, folders): the bench organisation of ``items`` items, built when missing."""
    from apps.core.models import Organisation, User
    from apps.core.services import organisation_member_set
    from apps.storage.models import Folder, Item
    from apps.storage.services.folders import folder_create

    name = f"Bench explorer {items}"
    organisation, created = Organisation.objects.get_or_create(name=name)
    admin = User.objects.filter(email=f"bench-{items}@example.com").first()
    if admin is None:
        admin = User.objects.create_user(email=f"bench-{items}@example.com", password="bench-pw-1")
        organisation_member_set(organisation=organisation, user=admin, role="admin")
    folders = list(Folder.objects.filter(organisation=organisation, parent=None).order_by("name"))
    if not folders:
        folders = [folder_create(user=admin, name=f"site-group-{n}", organisation=organisation)
                   for n in range(FOLDERS)]
        _declare(admin, organisation)
    have = Item.objects.filter(organisation=organisation).count()
    if have < items:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(0.42)")
            for start in range(have, items, _CHUNK):
                with transaction.atomic():
                    cursor.execute(_INSERT_SQL, {"org": str(organisation.pk), "folders": [str(f.pk) for f in folders],
                                                 "nfolders": len(folders), "start": start,
                                                 "stop": min(items, start + _CHUNK) - 1})
            cursor.execute("VACUUM ANALYZE storage_item")
        log(f"built {items - have:,} items in {time.perf_counter() - started:.1f} s")
    return organisation, admin, folders


def _declare(admin, organisation) -> None:
    from apps.metadata.services.schema import schema_key_add

    for key, (kind, values) in SCHEMA.items():
        schema_key_add(user=admin, organisation=organisation, name=key, type=kind,
                       **({"enum_values": values} if values else {}))


def django_setup() -> None:
    import os
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
