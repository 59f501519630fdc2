"""Projection benchmark: N items with 512-d vectors around ~1,000 Gaussian clusters, projected to 2-D,
then the map page in Chromium: binary transfer time and pan/zoom frame times.

    DATABASE_URL=postgres://.../loupe_projection python bench/bench_projection.py --items 100000 [--keep [--browser-only]]

Loads an organisation "bench-projection" (items by bulk insert, vectors by the app's binary COPY),
times ``projection_compute`` (what the worker runs: read vectors, PCA, UMAP on the sample, placing the
rest, COPY of the points) by phase, then serves the app with ``runserver`` and measures in Chromium
(SwiftShader WebGL, no GPU): the points' fetch (``window.loupeMap.transferMs``) and the
requestAnimationFrame deltas while dragging and wheeling for ~3 s. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CLUSTERS = 1000
SIZE = 512
ORG = "bench-projection"
PASSWORD = "bench-password-9"


def _load(items: int) -> None:
    from apps.core.models import Organisation
    from apps.core.services import organisation_member_set
    from apps.metadata.models import MetadataKey
    from apps.metadata.services import derived
    from apps.storage.models import Item, ItemStatus, ItemType
    from apps.storage.services.folders import folder_create
    from tests.encord_compat.helpers import schema_add
    from tests.factories import UserFactory

    Organisation.objects.filter(name=ORG).delete()
    organisation = Organisation.objects.create(name=ORG)
    from apps.core.models import User

    User.objects.filter(email="bench-map@example.com").delete()
    admin = UserFactory(email="bench-map@example.com", password=PASSWORD)
    organisation_member_set(organisation=organisation, user=admin, role="admin")
    schema_add(admin, organisation, clip=("embedding", SIZE), camera=("enum", [f"cam{i}" for i in range(8)]))
    folder = folder_create(user=admin, name="all", organisation=organisation)
    key = MetadataKey.objects.get(organisation=organisation, name="clip")
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLUSTERS, SIZE)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    for start in range(0, items, 20_000):
        n = min(20_000, items - start)
        rows = [Item(uuid=uuid.uuid4(), organisation=organisation, folder=folder, item_type=ItemType.IMAGE,
                     name=f"img-{start + i:07d}.jpg", status=ItemStatus.READY,
                     client_metadata={"camera": f"cam{(start + i) % 8}"}) for i in range(n)]
        Item.objects.bulk_create(rows, batch_size=5000)
        picked = rng.integers(0, CLUSTERS, n)
        vectors = centres[picked] + rng.standard_normal((n, SIZE)).astype(np.float32) * (0.6 / np.sqrt(SIZE))
        derived.vectors_copy([(key.pk, row.uuid, None, vectors[i]) for i, row in enumerate(rows)])


def _compute() -> dict:
    import apps.similarity.projecting as projecting
    from apps.metadata.models import MetadataKey
    from apps.similarity import services

    key = MetadataKey.objects.get(organisation__name=ORG, name="clip")
    timings = {}
    original_read, original_layout, original_write = services._vectors_read, projecting.layout_compute, \
        services._points_write

    def timed(name, function):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[name] = round(time.perf_counter() - started, 2)
        return call

    services._vectors_read = timed("read_vectors_s", original_read)
    projecting.layout_compute = timed("layout_s", original_layout)
    services._points_write = timed("write_points_s", original_write)
    projection = services.projection_request(organisation=key.organisation, key=key)
    started = time.perf_counter()
    services.projection_compute(projection_id=projection.pk)
    timings["total_s"] = round(time.perf_counter() - started, 2)
    projection.refresh_from_db()
    assert projection.status == "fresh", projection.error
    timings["points"] = projection.point_count
    return timings


def _browser(port: int) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.similarity.test_map_ui import CHROMIUM, WEBGL_ARGS

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "LOUPE_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(4)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=WEBGL_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(f"{base}/")
            page.fill("input[name=username]", "bench-map@example.com")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/")
            page.goto(f"{base}/explore/map/?key=clip")
            page.wait_for_function("window.loupeMap && window.loupeMap.ready")
            transfer = page.evaluate("[window.loupeMap.transferMs, window.loupeMap.bytes, window.loupeMap.state.points.n]")
            page.wait_for_timeout(1000)
            page.evaluate("""() => { window.frames_ = []; let last = performance.now();
                const tick = (now) => { window.frames_.push(now - last); last = now;
                  if (window.frames_.length < 100000) requestAnimationFrame(tick); };
                requestAnimationFrame(tick); }""")
            box = page.locator("#map-canvas").bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(cx, cy)
            page.mouse.down()
            for i in range(60):  # pan
                page.mouse.move(cx + 200 * np.sin(i / 10), cy + 150 * np.cos(i / 10))
                page.wait_for_timeout(16)
            page.mouse.up()
            for i in range(40):  # zoom in and out
                page.mouse.wheel(0, -120 if i < 20 else 120)
                page.wait_for_timeout(25)
            frames = np.array(page.evaluate("window.frames_")[2:])
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {"transfer_ms": round(transfer[0], 1), "payload_bytes": transfer[1], "points_drawn": transfer[2],
            "frames": len(frames), "frame_ms_median": round(float(np.median(frames)), 1),
            "frame_ms_p95": round(float(np.percentile(frames, 95)), 1), "frame_ms_max": round(float(frames.max()), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="reuse the loaded organisation")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--browser-only", action="store_true", help="with --keep: measure the page only")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("LOUPE_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    result = {"items": args.items, "load_average": os.getloadavg()}
    if not args.keep:
        started = time.perf_counter()
        _load(args.items)
        result["load_s"] = round(time.perf_counter() - started, 1)
    if not args.browser_only:
        result["compute"] = _compute()
    result["browser"] = _browser(args.port)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
