"""The database and Redis a benchmark runs on: its own database on the same PostgreSQL (embedded when
``DATABASE_URL`` is not set), recreated and migrated from empty, and its own Redis database number."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_env(database: str, redis_db: int) -> dict:
    """The environment a benchmark and the workers it starts run with."""
    from config import embedded, env

    base_url = env.get_str("DATABASE_URL") or embedded.ensure_postgres(env.var_dir()).url
    redis_url = env.get_str("REDIS_URL") or embedded.ensure_redis(env.var_dir()).url
    return {"DATABASE_URL": base_url.rsplit("/", 1)[0] + f"/{database}",
            "REDIS_URL": redis_url.rsplit("/", 1)[0] + f"/{redis_db}",
            "DJANGO_SETTINGS_MODULE": "config.settings.local", "LOUPE_LOG_LEVEL": "WARNING"}


def database_recreate(env: dict, database: str) -> None:
    """Drop and create ``database``, then migrate it."""
    import psycopg

    admin_url = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env={**os.environ, **env},
                   check=True)
