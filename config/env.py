"""Every environment variable Loupe reads, in one place.

Settings modules call these helpers; application code reads ``django.conf.settings`` instead.
Keeping the list here makes the deployment surface reviewable: if a variable is not named in this
module, Loupe does not read it.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def get_str(name: str, default: str = "") -> str:
    """A string variable; blank counts as unset."""
    value = os.environ.get(name, "").strip()
    return value or default


def get_bool(name: str, default: bool = False) -> bool:
    """A boolean variable: 1/true/yes/on are true, 0/false/no/off false, anything else an error."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use true or false)")


def get_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not an integer") from exc


def get_list(name: str, *, sep: str = ",", default: tuple[str, ...] = ()) -> list[str]:
    raw = os.environ.get(name, "")
    items = [part.strip() for part in raw.split(sep) if part.strip()]
    return items or list(default)


def debug() -> bool:
    """``LOUPE_DEBUG``: Django's debug mode (technical error pages with tracebacks and settings).

    Off unless a developer sets it, on every settings module: ``make run`` is how most people meet
    Loupe, and its pages must not hand a traceback to whoever finds the port. Production ignores it.
    """
    return get_bool("LOUPE_DEBUG", False)


def https_cookies() -> bool:
    """``LOUPE_HTTPS``: Loupe is served over https (directly or behind a proxy that sets
    ``X-Forwarded-Proto``), so session and CSRF cookies are sent only over https and browsers are told
    to keep to https (HSTS). ``DJANGO_SECURE_COOKIES`` is the older name, still read."""
    return get_bool("LOUPE_HTTPS", get_bool("DJANGO_SECURE_COOKIES", False))


def var_dir() -> Path:
    """Where the embedded services and local media keep their data (``LOUPE_VAR_DIR``, default ``var/``)."""
    return Path(get_str("LOUPE_VAR_DIR", str(BASE_DIR / "var"))).resolve()


def database_url() -> str:
    """``DATABASE_URL``, or the embedded PostgreSQL (started on demand) when it is unset."""
    url = get_str("DATABASE_URL")
    if url:
        return url
    from config import embedded

    return embedded.ensure_postgres(var_dir()).url


def redis_url() -> str:
    """``REDIS_URL``, or the embedded Redis (started on demand) when it is unset."""
    url = get_str("REDIS_URL")
    if url:
        return url
    from config import embedded

    return embedded.ensure_redis(var_dir()).url


def local_secret_key() -> str:
    """``DJANGO_SECRET_KEY``, or a random key generated once and kept in ``var/secret_key``.

    Only the local and test settings use this; production refuses to start without the variable.
    """
    key = get_str("DJANGO_SECRET_KEY")
    if key:
        return key
    path = var_dir() / "secret_key"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def s3_storage_options() -> dict | None:
    """``S3Storage`` options for media storage when ``LOUPE_S3_BUCKET`` is set, else None (local files).

    ``LOUPE_S3_ENDPOINT_URL`` (blank: AWS), ``LOUPE_S3_REGION``, ``LOUPE_S3_ACCESS_KEY_ID``,
    ``LOUPE_S3_SECRET_ACCESS_KEY`` and ``LOUPE_S3_PREFIX`` (a key prefix, default none) complete it.
    Objects stay private (no ACL) and are served through presigned URLs; a name never overwrites.
    """
    bucket = get_str("LOUPE_S3_BUCKET")
    if not bucket:
        return None
    return {
        "bucket_name": bucket,
        "endpoint_url": get_str("LOUPE_S3_ENDPOINT_URL") or None,
        "region_name": get_str("LOUPE_S3_REGION") or None,
        "access_key": get_str("LOUPE_S3_ACCESS_KEY_ID") or None,
        "secret_key": get_str("LOUPE_S3_SECRET_ACCESS_KEY") or None,
        # S3Storage refuses a location with a leading slash; "loupe/" and "/loupe" mean "loupe".
        "location": get_str("LOUPE_S3_PREFIX").strip("/"),
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": False,
    }
