"""Settings for a deployment (docker-compose.yml): secrets and hosts must come from the environment."""

from config import env

from .base import *  # noqa: F403

SECRET_KEY = env.get_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    raise RuntimeError("DJANGO_SECRET_KEY must be set in production")
DEBUG = False
STORAGES = {
    "default": STORAGES["default"],  # noqa: F405 - base picks S3 when LOUPE_S3_BUCKET is set
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# A deployment is served over https unless it says otherwise (LOUPE_HTTPS=0, e.g. docker-compose on a
# laptop): secure cookies, HSTS, and the proxy's X-Forwarded-Proto trusted (see base.py).
HTTPS = env.get_bool("LOUPE_HTTPS", env.get_bool("DJANGO_SECURE_COOKIES", True))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
