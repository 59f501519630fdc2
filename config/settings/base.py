"""Settings shared by every environment. Environment reads go through ``config.env`` only."""

from __future__ import annotations

import dj_database_url

from config import env

BASE_DIR = env.BASE_DIR
VAR_DIR = env.var_dir()

SECRET_KEY = env.get_str("DJANGO_SECRET_KEY", "")
DEBUG = env.debug()
ALLOWED_HOSTS = env.get_list("DJANGO_ALLOWED_HOSTS", default=("127.0.0.1", "localhost"))
CSRF_TRUSTED_ORIGINS = env.get_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "apps.core",
    "apps.storage",
    "apps.metadata",
    "apps.explorer",
    "apps.similarity",
    "apps.imports",
    "apps.curation",
    "apps.encord_compat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Before anything reads the request: its own 400s still get the security headers above.
    "apps.core.middleware.RequestInputGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.LoginRequiredEverywhereMiddleware",
]

# Security headers on every answer, whatever the scheme (Django's defaults, stated so they stay).
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # pages send the token from the form or the hx-headers attribute, not the cookie
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_FAILURE_VIEW = "apps.core.error_pages.csrf_failure"
# Over https (LOUPE_HTTPS=1): cookies only over https, and HSTS. Behind a TLS-terminating proxy, the
# proxy must set X-Forwarded-Proto (and strip it from clients), which SECURE_PROXY_SSL_HEADER trusts.
HTTPS = env.https_cookies()
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if HTTPS else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
# The Encord wire protocol has no trailing slashes and the SDK does not follow redirects.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {"default": dj_database_url.parse(env.database_url(), conn_max_age=60, conn_health_checks=True)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "storage:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
# htmx and other front-end libraries are installed from the npm registry into node_modules/.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor", BASE_DIR / "node_modules")]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.get_str("LOUPE_MEDIA_ROOT", str(VAR_DIR / "media"))
# Uploads, previews and renders: S3-compatible storage when LOUPE_S3_BUCKET is set, else MEDIA_ROOT.
_S3_STORAGE_OPTIONS = env.s3_storage_options()
STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _S3_STORAGE_OPTIONS}
        if _S3_STORAGE_OPTIONS else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REDIS_URL = env.redis_url()
CELERY_BROKER_URL = REDIS_URL
# One cache shared by every web and worker process (nothing in Loupe depends on it for correctness;
# signed-request claims live in PostgreSQL, see apps/encord_compat/replay.py).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                      "KEY_PREFIX": "loupe"}}
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A job's task is acknowledged only after it ran, so a worker killed mid-task gets it redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message a dead worker had taken is delivered again after visibility_timeout; the broker looks for
# such messages every unacked_restore_interval x unacked_restore_throttle seconds. Redelivering a
# message whose task still runs is harmless: a job's second delivery finds its lease held and returns,
# a probe task skips items locked by the first. Jobs do not wait for this: the sweep (apps.core.jobs)
# sends a job again as soon as its heartbeat is stale.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.get_int("LOUPE_BROKER_VISIBILITY_TIMEOUT_S", 60),
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only, read strictly; the views that take files (imports, metadata jobs) name MultiPartParser
    # themselves, and with it apps.core.parsers.StrictJSONParser for JSON.
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.CursorPage",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "apps.core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loupe API",
    "DESCRIPTION": "Register files, attach typed metadata and embeddings, explore and curate. "
    "Authenticate with `Authorization: Token <token>` (create tokens on the Tokens page).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Two choice sets answer to "role": name both, so folder roles keep the RoleEnum name clients know.
    "ENUM_NAME_OVERRIDES": {"RoleEnum": "apps.storage.models.FolderRole",
                            "OrganisationRoleEnum": "apps.core.models.OrganisationRole"},
    # Swagger UI is served from the drf-spectacular-sidecar wheel, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.schema.error_responses_postprocess",  # 400/401/403/404 on every operation
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.get_str("LOUPE_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Loupe's own settings
LOUPE_DEFAULT_ORGANISATION = env.get_str("LOUPE_DEFAULT_ORGANISATION", "Default organisation")
LOUPE_LOCAL_ROOTS = env.get_list("LOUPE_LOCAL_ROOTS", sep=":")
LOUPE_FETCH_ALLOW_HOSTS = env.get_list("LOUPE_FETCH_ALLOW_HOSTS")
LOUPE_CELERY_PING_TIMEOUT = 1.0
LOUPE_ENCRYPTION_KEY = env.get_str("LOUPE_ENCRYPTION_KEY")
LOUPE_FETCH_TIMEOUT_S = float(env.get_int("LOUPE_FETCH_TIMEOUT_S", 30))
LOUPE_FETCH_MAX_BYTES = env.get_int("LOUPE_FETCH_MAX_BYTES", 5 * 1024**3)
LOUPE_UPLOAD_MAX_BYTES = env.get_int("LOUPE_UPLOAD_MAX_BYTES", 5 * 1024**3)
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# A RUNNING job whose worker has not renewed its lease (heartbeat) for this long is presumed dead and
# is resumed by the next sweep; every worker sweeps every LOUPE_JOB_SWEEP_EVERY_S. A killed worker's
# job resumes within about stale + sweep seconds (40 s) of a worker being up.
LOUPE_JOB_STALE_AFTER_S = env.get_int("LOUPE_JOB_STALE_AFTER_S", 30)
LOUPE_JOB_SWEEP_EVERY_S = env.get_int("LOUPE_JOB_SWEEP_EVERY_S", 10)
# A 500,000-entry file with embeddings is ~1 GB; the default leaves room for that.
LOUPE_IMPORT_MAX_BYTES = env.get_int("LOUPE_IMPORT_MAX_BYTES", 2 * 1024**3)
# Largest metadata object of one item, as JSON (the spec's default: 1 MiB).
LOUPE_METADATA_MAX_BYTES = env.get_int("LOUPE_METADATA_MAX_BYTES", 1024 * 1024)
# Whether the Explorer builds and drops its per-organisation indexes as keys change (apps.explorer.indexes).
LOUPE_EXPLORER_INDEXES = env.get_bool("LOUPE_EXPLORER_INDEXES", True)
# Seconds after vectors change before the organisation's 2-D projections are checked and recomputed
# (apps.similarity): an import writes in batches, and one recompute after a quiet spell serves them all.
LOUPE_PROJECTION_REFRESH_DELAY_S = env.get_int("LOUPE_PROJECTION_REFRESH_DELAY_S", 60)
# Imports of at least this many entries set key indexes (ANN, Explorer) aside and rebuild them at the end.
LOUPE_BULK_INDEX_THRESHOLD = env.get_int("LOUPE_BULK_INDEX_THRESHOLD", 100_000)
# Most memory an ANN index rebuild may ask of the database (its session's maintenance_work_mem); it asks
# only what the graph needs (1M 512-d vectors: ~3.5 GB) and never less than the server's own setting.
LOUPE_ANN_BUILD_MEMORY_MB = env.get_int("LOUPE_ANN_BUILD_MEMORY_MB", 4096)
