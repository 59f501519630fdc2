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
SESSION_COOKIE_SECURE = env.get_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
