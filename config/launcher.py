"""``python -m config.launcher``: run all of Loupe on one machine (what ``make run`` calls).

Starts the embedded PostgreSQL and Redis unless ``DATABASE_URL`` / ``REDIS_URL`` are set, applies
migrations, creates the default organisation and first administrator, then runs a Celery worker and
the web server (gunicorn) until Ctrl-C, when it stops everything it started. Data stays in ``var/``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from config import embedded, env

STOP_GRACE_S = 20


def _log(message: str) -> None:
    print(f"[loupe] {message}", flush=True)


def _start_services() -> list[embedded.EmbeddedService]:
    started = []
    var = env.var_dir()
    if not env.get_str("DATABASE_URL"):
        service = embedded.ensure_postgres(var)
        os.environ["DATABASE_URL"] = service.url
        _log(f"embedded PostgreSQL + pgvector at {service.url} (data in {var / 'postgres'})")
        started.append(service)
    if not env.get_str("REDIS_URL"):
        service = embedded.ensure_redis(var)
        os.environ["REDIS_URL"] = service.url
        _log(f"embedded Redis at {service.url} ({embedded.redis_binary()})")
        started.append(service)
    return started


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], check=True, cwd=env.BASE_DIR)


def _stop(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for proc in processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    started_at = time.monotonic()
    services = _start_services()
    _manage("migrate", "--noinput", "-v", "0")
    host = env.get_str("LOUPE_HOST", "127.0.0.1")
    port = env.get_int("LOUPE_PORT", 8000)
    _manage("bootstrap", "--url", f"http://{host}:{port}/")
    # One more process than cores: import workers spend part of each batch waiting on PostgreSQL
    # (bench/bench_import.py, 1M entries on 2 cores: 17.9k entries/s with 2 processes, 19.1k with 3).
    concurrency = env.get_int("LOUPE_WORKER_CONCURRENCY", (os.cpu_count() or 1) + 1)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info",
             "--concurrency", str(concurrency), "-n", "loupe@%h"],
            cwd=env.BASE_DIR,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"{host}:{port}",
             "--workers", str(env.get_int("LOUPE_WEB_WORKERS", 3)), "--threads", "4",
             "--timeout", "120", "--access-logfile", "-"],
            cwd=env.BASE_DIR,
        ),
    ]
    _log(f"ready in {time.monotonic() - started_at:.1f} s: open http://{host}:{port}/ (Ctrl-C stops Loupe)")
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    exit_code = 0
    while not stopping:
        for proc in processes:
            if proc.poll() is not None:
                _log(f"{proc.args[2:4]} exited with {proc.returncode}; stopping")
                stopping, exit_code = True, 1
        time.sleep(0.5)
    _log("stopping web server and worker")
    _stop(processes)
    for service in services:
        if service.started_here:
            _log(f"stopping embedded {service.name}")
            if service.name == "postgres":
                embedded.stop_postgres(env.var_dir())
            else:
                embedded.stop_redis(env.var_dir())
    _log("stopped; data kept in var/")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
