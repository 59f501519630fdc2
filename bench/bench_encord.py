"""Encord SDK against Loupe: what a user's script sees, over real HTTP, with the real SDK.

Registers the ``generate.py`` data set (default 100,000 entries with 8-key metadata, shared with
``bench_metadata.py``) in its own database ``loupe_bench_encord``, starts gunicorn (2 workers) and runs,
with ``encord`` in this process and a key registered for the bench user:

- ``list_items``: every item of the largest leaf folder through ``folder.list_items(page_size=1000)``;
- ``get_storage_items_1000``: ``user_client.get_storage_items`` of 1,000 uuids (median of 10 calls);
- ``bundle_update``: ``item.update(client_metadata=..., bundle=bundle)`` for 10,000 items, bundles of
  1,000 (the seed's "update all items in a folder" pattern), items/s;
- ``update_one``: ``item.update(client_metadata=...)`` without a bundle (median of 50 calls);
- ``get_item_signed`` / ``get_item_bearer``: one ``get_storage_item`` with an Ed25519-signed request and with
  a bearer token (median of 50), i.e. what signature verification costs.

Run: ``python bench/bench_encord.py [--items 100000]``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_metadata as harness  # noqa: E402  (shared data set, loader and server start)

harness.BENCH_DB = "loupe_bench_encord"  # read at call time by the harness: this bench keeps its own database
BUNDLE_ITEMS = 10_000
LATENCY_CALLS = 50


def _median_ms(call, times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(spent), 1)


def _key(user) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from apps.core.services import public_key_add

    private = Ed25519PrivateKey.generate()
    path = Path(tempfile.mkdtemp()) / "bench-key"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    public_key_add(user=user, openssh=private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode())
    return str(path)


def _largest_leaf():
    from django.db.models import Count

    from apps.storage.models import Folder

    return Folder.objects.annotate(n=Count("items")).order_by("-n").first()


def measure(base: str, user) -> dict:
    from encord import EncordUserClient
    from encord.http.bundle import Bundle

    from apps.core.services import api_token_create
    from apps.storage.models import Item

    signed = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=_key(user), domain=base)
    bearer = EncordUserClient.create_with_bearer_token(api_token_create(user=user, name="bench")[1], domain=base)
    result = {}

    leaf = _largest_leaf()
    started = time.perf_counter()
    listed = sum(1 for _ in signed.get_storage_folder(leaf.pk).list_items(page_size=1000))
    seconds = time.perf_counter() - started
    result["list_items"] = {"items": listed, "seconds": round(seconds, 2), "items_per_s": round(listed / seconds)}

    uuids = [str(pk) for pk in Item.objects.filter(parent__isnull=True).order_by("pk")
             .values_list("pk", flat=True)[:BUNDLE_ITEMS]]
    result["get_storage_items_1000_ms"] = _median_ms(lambda: signed.get_storage_items(uuids[:1000]), 10)

    started = time.perf_counter()
    for start in range(0, len(uuids), 1000):
        items = signed.get_storage_items(uuids[start:start + 1000])
        with Bundle() as bundle:
            for n, item in enumerate(items):
                item.update(client_metadata={"reviewed": n % 2 == 0, "score": 0.5}, bundle=bundle)
    seconds = time.perf_counter() - started
    result["bundle_update"] = {"items": len(uuids), "seconds": round(seconds, 2),
                               "items_per_s": round(len(uuids) / seconds), "note": "get-bulk + patch-bulk per 1,000"}

    item = signed.get_storage_item(uuids[0])
    result["update_one_ms"] = _median_ms(lambda: item.update(client_metadata={"reviewed": True}), LATENCY_CALLS)
    result["get_item_signed_ms"] = _median_ms(lambda: signed.get_storage_item(uuids[1]), LATENCY_CALLS)
    result["get_item_bearer_ms"] = _median_ms(lambda: bearer.get_storage_item(uuids[1]), LATENCY_CALLS)
    return result


def run(items: int) -> dict:
    env = harness._bench_env()
    dataset = harness._dataset(items)
    harness._recreate_database(env)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "LOUPE_LOG_LEVEL",
                                           "DJANGO_DEBUG")})
    import django

    django.setup()
    loaded = harness._load(dataset)
    server, base = harness._start_server(env)
    try:
        return {"items": items, "import_seconds": loaded["import_seconds"], **measure(base, loaded["user"])}
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    print(json.dumps(run(parser.parse_args().items), indent=2))


if __name__ == "__main__":
    main()
