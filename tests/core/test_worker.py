"""A task travels through Redis to a real Celery worker process and its result comes back."""

from __future__ import annotations

from apps.core.tasks import ping_task


def test_task_round_trip_through_a_real_worker(transactional_db, celery_worker_process, org):
    result = ping_task.delay("hello")
    assert result.get(timeout=30) == {"echo": "hello", "organisations": 1}


def test_healthz_reports_all_three_up(transactional_db, celery_worker_process, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["database"]["pgvector"].startswith("0.")
    assert body["redis"] == {"ok": True}
    assert body["worker"]["ok"] is True and body["worker"]["workers"] >= 1


def test_healthz_is_503_when_redis_is_down(db, client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["redis"]["ok"] is False and "Connection refused" in body["redis"]["error"]
    assert body["worker"] == {"ok": False, "workers": 0, "error": "no broker"}


def test_a_degraded_healthz_is_one_warning_naming_what_is_down(db, client, monkeypatch, caplog):
    """The launcher polls /healthz while the worker boots: a 503 there is a report, not a server error."""
    from apps.core import health

    monkeypatch.setattr(health, "worker_state", lambda: {"ok": False, "workers": 0})
    with caplog.at_level("WARNING"):
        response = client.get("/healthz")

    assert (response.status_code, response.json()["status"], response.json()["worker"]) == (
        503, "degraded", {"ok": False, "workers": 0})
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("apps.core.views", "WARNING", "healthz: degraded (down: worker)")]
