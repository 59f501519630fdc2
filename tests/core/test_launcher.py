"""``python -m config.launcher`` (``make run``): "ready" means /healthz answers 200, and a Ctrl-C at any
moment leaves no process behind and frees the port.

The launcher runs as a real subprocess on the test PostgreSQL server (a throwaway database made here,
never the dev one) and its own Redis database. Ctrl-C is sent as the terminal sends it: SIGINT to the
whole foreground process group (the launcher's), which is what raced with the launcher's own
forwarding before children got their own groups.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import psutil
import pytest
import requests
from django.conf import settings

from tests.conftest import ROOT

STARTUP_TIMEOUT_S = 60
EXIT_TIMEOUT_S = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    """Whether a server could listen on the port now (SO_REUSEADDR: TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def launcher_database():
    """A fresh database on the test server for the launcher to migrate; dropped afterwards."""
    import psycopg

    db = settings.DATABASES["default"]
    conninfo = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "password": db["PASSWORD"] or None}
    name = f"loupe_launcher_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    url = f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{name}"
    # Migrated once here, so every start below spends its time on what is tested.
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True,
                   env={**_launcher_env(url), "REDIS_URL": "redis://127.0.0.1:1/0"}, capture_output=True)
    yield url
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _launcher_env(database_url: str, **env_extra) -> dict[str, str]:
    # Redis database 14: neither the dev server's (0) nor the test runs' (15).
    redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + "/14"
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "LOUPE_WEB_WORKERS": "2", "LOUPE_WORKER_CONCURRENCY": "1",
           "DJANGO_SETTINGS_MODULE": "config.settings.local", **env_extra}
    env.pop("LOUPE_TEST_RUN_ID", None)
    return env


class Launcher:
    """A running ``python -m config.launcher``: its output lines and every process of its tree seen."""

    def __init__(self, database_url: str, **env_extra):
        self.port = _free_port()
        env = _launcher_env(database_url, LOUPE_PORT=str(self.port), **env_extra)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "config.launcher"], cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self.seen: dict[int, psutil.Process] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line)

    def _drain(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def record_tree(self) -> None:
        """Remember every process the launcher started so far (children run in their own groups)."""
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def wait_for(self, text: str, timeout: float = STARTUP_TIMEOUT_S, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            self.record_tree()
            if sum(text in line for line in self.lines) >= count:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self._drain()
        pytest.fail(f"launcher did not print {text!r}; output:\n{''.join(self.lines)[-4000:]}")

    def ctrl_c(self) -> None:
        """What the terminal does: SIGINT to the foreground process group."""
        self.record_tree()
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait_exit(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.record_tree()
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.kill_leftovers()
            pytest.fail(f"launcher still running {timeout} s later; output:\n{self.output()[-4000:]}")
        time.sleep(0.2)
        self._drain()
        return self.proc.returncode

    def survivors(self) -> list[psutil.Process]:
        alive = []
        for proc in self.seen.values():
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        return alive

    def kill_leftovers(self) -> None:
        """Test hygiene only: whatever the assertions say, nothing of this run outlives the test."""
        for proc in [*self.survivors()]:
            proc.kill()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def output(self) -> str:
        self._drain()
        return "".join(self.lines)


@pytest.fixture
def start_launcher(launcher_database):
    started: list[Launcher] = []

    def start(**env_extra) -> Launcher:
        started.append(Launcher(launcher_database, **env_extra))
        return started[-1]

    yield start
    for launcher in started:
        launcher.kill_leftovers()


def _assert_all_gone(launcher: Launcher) -> None:
    """No process of the launcher's tree is left, the port is free and nothing answers on it."""
    assert launcher.seen, "no child process was recorded"
    assert [(proc.pid, proc.name()) for proc in launcher.survivors()] == []
    assert _port_free(launcher.port)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{launcher.port}/healthz", timeout=2)


def test_ready_only_after_healthz_200_then_ctrl_c_stops_everything(start_launcher):
    launcher = start_launcher()
    launcher.wait_for("] ready in ")
    response = requests.get(f"http://127.0.0.1:{launcher.port}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json()["worker"]["ok"] is True
    assert "LOUPE_LOCAL_ROOTS" in launcher.output()
    pids = sorted(launcher.seen)
    launcher.ctrl_c()

    assert launcher.wait_exit() == 0
    assert len(pids) >= 5  # worker + its pool process, gunicorn master + 2 web workers (+ finished steps)
    _assert_all_gone(launcher)
    assert "killed" not in launcher.output()  # everything stopped gracefully within the grace period


def test_ctrl_c_during_startup_before_ready(start_launcher):
    launcher = start_launcher()
    # The worker and the web server are starting (their first lines are out) but /healthz is not 200 yet.
    launcher.wait_for("Booting worker")
    launcher.ctrl_c()

    assert launcher.wait_exit() == 0
    assert "] ready in " not in launcher.output()
    _assert_all_gone(launcher)


def test_ctrl_c_then_sigterm_with_a_stuck_web_worker(start_launcher):
    """A web worker that answers no signal (stopped, as the deadlocked one was) still goes, at once."""
    launcher = start_launcher()
    launcher.wait_for("] ready in ")
    launcher.wait_for("Booting worker with pid", count=2)
    web_workers = [proc for proc in launcher.survivors()
                   if "gunicorn" in " ".join(proc.cmdline()) and proc.parent().pid != launcher.proc.pid]
    assert len(web_workers) == 2
    web_workers[0].suspend()  # SIGSTOP: it keeps the listening socket and ignores SIGTERM/SIGINT
    launcher.ctrl_c()
    time.sleep(0.3)
    launcher.proc.send_signal(signal.SIGTERM)  # what `make` forwards when it is itself terminated

    assert launcher.wait_exit(timeout=10) == 0
    _assert_all_gone(launcher)


def test_never_ready_stops_everything_and_says_why(start_launcher):
    # No Redis on this port: the web server answers /healthz with 503 (redis and worker down) forever.
    # 12 s: on a loaded 2-core machine gunicorn alone may take 6 s to answer its first request.
    dead_redis = f"redis://127.0.0.1:{_free_port()}/0"
    launcher = start_launcher(REDIS_URL=dead_redis, LOUPE_READY_TIMEOUT_S="12")

    assert launcher.wait_exit() == 1
    output = launcher.output()
    assert "error: not ready after 12 s (LOUPE_READY_TIMEOUT_S): /healthz answered 503; down: redis, worker" in output
    assert "] ready in " not in output
    _assert_all_gone(launcher)
