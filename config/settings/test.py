"""Settings for the test suite: same database engine and broker as production, faster hashing."""

from config import env

from .base import *  # noqa: F403
from .base import REDIS_URL

SECRET_KEY = env.local_secret_key()
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests use their own Redis database so a running Loupe on the same embedded server is untouched.
CELERY_BROKER_URL = CELERY_RESULT_BACKEND = REDIS_URL.rsplit("/", 1)[0] + "/15"
ALLOWED_HOSTS = ["*"]
# Live-server threads must not keep connections open past a request (test DB teardown needs them gone).
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing is collected outside production
