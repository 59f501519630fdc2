"""Shared fixtures: people with roles, real HTTP clients, and a real Celery worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.factories import OrganisationFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def org(db):
    return OrganisationFactory(name="Acme")


@pytest.fixture
def make_user(db):
    """``make_user(org, role="member")`` creates a user who belongs to ``org`` with that role."""
    from apps.core.services import organisation_member_set

    def make(organisation=None, *, role="member", email=None, password="pw-for-tests-1"):
        user = UserFactory(**({"email": email} if email else {}), password=password)
        if organisation is not None:
            organisation_member_set(organisation=organisation, user=user, role=role)
        return user

    return make


class Api:
    """A ``requests`` session against the live test server, authenticated with a real API token."""

    def __init__(self, base_url: str, token: str | None):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def __getattr__(self, method):
        def call(path, **kwargs):
            return self.session.request(method.upper(), self.base + path, timeout=30, **kwargs)

        return call


@pytest.fixture
def api_for(live_server):
    from apps.core.services import api_token_create

    def make(user=None) -> Api:
        token = api_token_create(user=user, name="tests")[1] if user else None
        return Api(live_server.url, token)

    return make


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.fixture
def test_files():
    """A directory inside the configured ``LOUPE_LOCAL_ROOTS`` (file:// URLs there are allowed)."""
    import shutil
    import uuid

    from django.conf import settings

    path = settings.LOUPE_TEST_FILES / uuid.uuid4().hex
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def http_files(test_files):
    """A real HTTP server on 127.0.0.1 serving ``test_files``; yields its base URL."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(test_files)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def start_worker(*, name: str, queues: str | None = None, log_name: str = "test-worker.log", **env_extra):
    """Start a real ``celery worker`` process on the test database and the test Redis database.

    It runs in its own session (process group), so a test can SIGKILL the whole worker at once.
    Waits until the worker answers a ping on the broker.
    """
    from django.conf import settings

    from config.celery import app

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        **env_extra,
    }
    queues = queues or settings.CELERY_TASK_DEFAULT_QUEUE
    log = open(ROOT / "var" / log_name, "a")
    hostname = f"{name}-{os.getpid()}@%h"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", "2",
         "-n", hostname, "-Q", queues, "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    proc.log = log
    deadline = time.monotonic() + 60
    expected = hostname.replace("%h", __import__("socket").gethostname())
    while not any(expected in reply for reply in app.control.ping(timeout=0.5) or []):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"test worker did not start; see {log.name}")
    return proc


def stop_worker(proc, *, kill: bool = False) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        proc.kill()
    proc.log.close()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker process for the session, started on first use.

    Tests that use it need committed data (``transactional_db``), because the worker is another process.
    """
    with django_db_blocker.unblock():
        proc = start_worker(name="test")
    yield proc
    stop_worker(proc)
