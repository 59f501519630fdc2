"""The state of what Loupe depends on, for ``GET /healthz``."""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def database_state() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        return {"ok": True, "pgvector": row[0] if row else None}
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported with its reason
        return {"ok": False, "error": str(exc).strip()[:300]}


def redis_state() -> dict:
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1).ping()
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": str(exc)[:300]}


def worker_state() -> dict:
    from config.celery import app

    try:
        replies = app.control.ping(timeout=settings.LOUPE_CELERY_PING_TIMEOUT) or []
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "workers": 0, "error": str(exc)[:300]}
    return {"ok": bool(replies), "workers": len(replies)}


def health_report() -> tuple[bool, dict]:
    report = {"database": database_state(), "redis": redis_state()}
    report["worker"] = worker_state() if report["redis"]["ok"] else {"ok": False, "workers": 0, "error": "no broker"}
    return all(part["ok"] for part in report.values()), report
