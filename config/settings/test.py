"""Settings for the test suite: same database engine and broker as production, faster hashing."""

import os

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
# The test worker process and the test process must agree on these, so they are fixed paths.
MEDIA_ROOT = str(VAR_DIR / "test-media")  # noqa: F405
LOUPE_TEST_FILES = VAR_DIR / "test-files"  # noqa: F405
LOUPE_LOCAL_ROOTS = [str(LOUPE_TEST_FILES)]
# Tests serve media from a localhost HTTP server; production refuses loopback unless allowed like this.
LOUPE_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
LOUPE_FETCH_TIMEOUT_S = 5.0
# Jobs left by a killed test worker are resumed within seconds, not the production 40 s.
LOUPE_JOB_STALE_AFTER_S = env.get_int("LOUPE_JOB_STALE_AFTER_S", 5)
LOUPE_JOB_SWEEP_EVERY_S = env.get_int("LOUPE_JOB_SWEEP_EVERY_S", 1)

# Concurrent index builds by the worker would deadlock with the flush between transactional tests
# (TRUNCATE waits for the build, the build for the flush's transaction): only tests/explorer/test_indexes.py
# turns them on, and waits for its builds before the flush.
LOUPE_EXPLORER_INDEXES = False
LOUPE_PROJECTION_REFRESH_DELAY_S = 0

# Several test runs may share one machine (and one embedded server): each run gets its own test
# database and its own Celery queue. Worker processes inherit the run id from the environment.
# Under pytest-xdist each test process (gw0, gw1...) is a run of its own: its database, queue and worker.
TEST_RUN_ID = os.environ.setdefault("LOUPE_TEST_RUN_ID", str(os.getpid())) + os.environ.get("PYTEST_XDIST_WORKER", "")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL,
                      "KEY_PREFIX": f"loupe-test-{TEST_RUN_ID}"}}
DATABASES["default"]["TEST"] = {"NAME": f"test_loupe_{TEST_RUN_ID}"}  # noqa: F405
CELERY_TASK_DEFAULT_QUEUE = f"loupe-test-{TEST_RUN_ID}"
# Uploads in tests go to local files unless a test overrides STORAGES (tests/imports/test_uploads_s3.py).
STORAGES = {**STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}  # noqa: F405
