"""``python -m config.launcher``: run all of Loupe on one machine (what ``make run`` calls).

Starts the embedded PostgreSQL and Redis unless ``DATABASE_URL`` / ``REDIS_URL`` are set, applies
migrations, creates the default organisation and first administrator, then runs a Celery worker and
the web server (gunicorn). It prints "ready" only once ``/healthz`` answers 200 (database, Redis and
a worker all up); if that does not happen within ``LOUPE_READY_TIMEOUT_S`` it stops everything and
exits 1 with the reason. Data stays in ``var/``.

How stopping works, and why:

* Every child (migrate, bootstrap, worker, web server) runs in its **own session and process group**.
  The terminal's Ctrl-C goes to the foreground process group (``make`` and this launcher), so children
  no longer get a SIGINT from the terminal *and* a second signal from the launcher a moment later: that
  double delivery is what once left a gunicorn master deadlocked, still holding port 8000.
* On the first SIGINT/SIGTERM the launcher sends SIGTERM to each child's group (gunicorn and Celery
  both shut down gracefully on it), waits up to ``STOP_GRACE_S``, then SIGKILLs each group and every
  process of the recorded tree that is still alive (psutil), and reaps them. A second Ctrl-C skips the
  wait. Children also get SIGTERM from the kernel if the launcher itself dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil

from config import embedded, env

STOP_GRACE_S = 15  # > gunicorn's --graceful-timeout below, so a graceful stop is never cut short
WEB_GRACEFUL_TIMEOUT_S = 10
POLL_S = 0.1
HEALTH_POLL_S = 0.5
HEALTH_REQUEST_TIMEOUT_S = 5
PR_SET_PDEATHSIG = 1

try:
    _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
except OSError:  # not glibc/musl: children simply do not get the parent-death signal
    _LIBC = None


def _log(message: str) -> None:
    print(f"[loupe] {message}", flush=True)


class StopRequested(Exception):
    """A SIGINT/SIGTERM arrived: unwind to the shutdown path."""


class LaunchFailed(Exception):
    """A step failed; the message is the reason printed before exiting 1."""


def _child_setup(launcher_pid: int):
    """``preexec_fn`` of every child: die (gracefully) with the launcher, even if it is SIGKILLed."""

    def setup() -> None:
        if _LIBC is not None and sys.platform.startswith("linux"):
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != launcher_pid:  # the launcher died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)

    return setup


class ProcessGroups:
    """The children this launcher started, each the leader of its own process group."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen] = []  # every process started, finished steps included
        self.servers: list[subprocess.Popen] = []  # the ones that must keep running (worker, web server)
        self.signals = 0  # SIGINT/SIGTERM received so far (the handler only counts: no I/O in it)
        # False while a step must not be torn in half (starting the embedded servers, shutting down):
        # a signal then only counts and is acted on right after.
        self.interruptible = True

    # -- signals -------------------------------------------------------------------------------
    def on_signal(self, signum, frame) -> None:
        self.signals += 1
        if self.signals == 1 and self.interruptible:
            raise StopRequested(signal.Signals(signum).name)

    def check_stop(self) -> None:
        if self.signals:
            raise StopRequested("signal")

    # -- starting ------------------------------------------------------------------------------
    def spawn(self, argv: list[str], *, server: bool = False) -> subprocess.Popen:
        proc = subprocess.Popen(argv, cwd=env.BASE_DIR, start_new_session=True,
                                preexec_fn=_child_setup(os.getpid()))  # noqa: PLW1509 - no threads here
        self.children.append(proc)
        if server:
            self.servers.append(proc)
        return proc

    def run_step(self, what: str, argv: list[str]) -> None:
        """Run one command to completion in its own group; a signal meanwhile stops it."""
        proc = self.spawn(argv)
        while proc.poll() is None:
            time.sleep(POLL_S)
        if proc.returncode != 0:
            raise LaunchFailed(f"{what} exited with {proc.returncode}")

    def first_exited(self) -> subprocess.Popen | None:
        return next((proc for proc in self.servers if proc.poll() is not None), None)

    # -- stopping ------------------------------------------------------------------------------
    def _tree(self) -> list[psutil.Process]:
        """Every live process this launcher started, directly or not (pid reuse is ruled out by psutil)."""
        found: dict[int, psutil.Process] = {}
        for child in psutil.Process().children(recursive=True):
            found[child.pid] = child
        for proc in self.children:  # group members whose parent already exited
            for member in _group_members(proc.pid):
                found.setdefault(member.pid, member)
        return list(found.values())

    def _signal_groups(self, signum: int) -> None:
        # Direct children too: a signal that arrived inside Popen() may have left one unrecorded.
        leaders = {proc.pid for proc in self.children} | {child.pid for child in psutil.Process().children()}
        for pid in leaders:
            try:
                os.killpg(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass  # the group is gone already

    def stop_all(self) -> list[int]:
        """Stop every child and its descendants; returns the pids that had to be SIGKILLed."""
        tree = self._tree()
        if not tree:
            self._reap()
            return []
        if self.signals < 2:
            self._signal_groups(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while time.monotonic() < deadline and self.signals < 2 and _alive(tree):
                self._reap()
                time.sleep(POLL_S)
        survivors = _alive(tree + self._tree())
        self._signal_groups(signal.SIGKILL)
        for proc in survivors:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(survivors, timeout=5)
        self._reap()
        return [proc.pid for proc in survivors]

    def _reap(self) -> None:
        for proc in self.children:
            proc.poll()


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    return alive


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


def _stop_services(services: list[embedded.EmbeddedService]) -> None:
    for service in services:
        if service.started_here:
            _log(f"stopping embedded {service.name}")
            if service.name == "postgres":
                embedded.stop_postgres(env.var_dir())
            else:
                embedded.stop_redis(env.var_dir())


def _health(url: str) -> tuple[int | None, str]:
    """``GET /healthz``: (status, short reason); status None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_REQUEST_TIMEOUT_S) as response:
            return response.status, "ok"
    except urllib.error.HTTPError as exc:
        body = exc.read(2000).decode("utf-8", "replace")
        try:
            down = [name for name, part in json.loads(body).items() if isinstance(part, dict) and not part.get("ok")]
            return exc.code, f"/healthz answered {exc.code}; down: {', '.join(down) or body[:300]}"
        except ValueError:
            return exc.code, f"/healthz answered {exc.code}: {body[:300]}"
    except (urllib.error.URLError, OSError) as exc:
        return None, f"nothing answered on {url} ({getattr(exc, 'reason', exc)})"


def _wait_ready(groups: ProcessGroups, url: str, timeout_s: int) -> None:
    """Return once /healthz answers 200; raise LaunchFailed with the reason otherwise."""
    deadline = time.monotonic() + timeout_s
    reason = "not polled yet"
    while time.monotonic() < deadline:
        exited = groups.first_exited()
        if exited is not None:
            raise LaunchFailed(f"{' '.join(exited.args[2:4])} exited with {exited.returncode} before Loupe was ready")
        status, reason = _health(url)
        if status == 200:
            return
        time.sleep(HEALTH_POLL_S)
    raise LaunchFailed(f"not ready after {timeout_s} s (LOUPE_READY_TIMEOUT_S): {reason}")


def _local_roots_hint() -> str:
    roots = env.get_list("LOUPE_LOCAL_ROOTS", sep=":")
    if roots:
        return f"file:// URLs may read {':'.join(roots)} (LOUPE_LOCAL_ROOTS)"
    return ("file:// URLs are off: to register files from this machine, allow their directories with "
            "LOUPE_LOCAL_ROOTS=/data/a:/data/b make run (see docs/import-format.md)")


def _launch(groups: ProcessGroups, started_at: float) -> None:
    host = env.get_str("LOUPE_HOST", "127.0.0.1")
    port = env.get_int("LOUPE_PORT", 8000)
    groups.run_step("migrate", [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"])
    groups.run_step("bootstrap", [sys.executable, "manage.py", "bootstrap", "--url", f"http://{host}:{port}/"])
    # One more process than cores: import workers spend part of each batch waiting on PostgreSQL
    # (bench/bench_import.py, 1M entries on 2 cores: 17.9k entries/s with 2 processes, 19.1k with 3).
    concurrency = env.get_int("LOUPE_WORKER_CONCURRENCY", (os.cpu_count() or 1) + 1)
    groups.spawn([sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info",
                  "--concurrency", str(concurrency), "-n", "loupe@%h"], server=True)
    groups.spawn([sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"{host}:{port}",
                  "--workers", str(env.get_int("LOUPE_WEB_WORKERS", 3)), "--threads", "4",
                  "--timeout", "120", "--graceful-timeout", str(WEB_GRACEFUL_TIMEOUT_S),
                  "--access-logfile", "-"], server=True)
    probe_host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
    _wait_ready(groups, f"http://{probe_host}:{port}/healthz", env.get_int("LOUPE_READY_TIMEOUT_S", 120))
    _log(f"ready in {time.monotonic() - started_at:.1f} s: open http://{host}:{port}/ (Ctrl-C stops Loupe)")
    _log(_local_roots_hint())
    while True:
        exited = groups.first_exited()
        if exited is not None:
            raise LaunchFailed(f"{' '.join(exited.args[2:4])} exited with {exited.returncode}")
        time.sleep(HEALTH_POLL_S)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    started_at = time.monotonic()
    groups = ProcessGroups()
    # Installed before anything starts, so a Ctrl-C at any moment takes the same shutdown path.
    signal.signal(signal.SIGINT, groups.on_signal)
    signal.signal(signal.SIGTERM, groups.on_signal)
    services: list[embedded.EmbeddedService] = []
    exit_code = 0
    try:
        try:
            groups.interruptible = False
            services = _start_services()
            groups.interruptible = True
            groups.check_stop()
            _launch(groups, started_at)
        except LaunchFailed as exc:
            groups.interruptible = False
            exit_code = 1
            _log(f"error: {exc}; stopping")
    except StopRequested as exc:
        _log(f"{exc}: stopping (Ctrl-C again kills at once)")
    finally:
        # Later signals only count (a second one cuts the grace period short); they must not
        # interrupt the shutdown itself.
        groups.interruptible = False
        killed = groups.stop_all()
        if killed:
            _log(f"killed {len(killed)} process(es) that did not stop in time: {killed}")
        _stop_services(services)
    _log("stopped; data kept in var/")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
