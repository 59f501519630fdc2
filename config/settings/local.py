"""Settings for a developer's machine or a single-box install started with ``make run``."""

from config import env

from .base import *  # noqa: F403

SECRET_KEY = env.local_secret_key()
# Debug pages (tracebacks, settings) only when a developer asks: LOUPE_DEBUG=1 make run.
DEBUG = env.debug()
# Serve static files straight from the app and node_modules folders: no collectstatic step locally.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None  # nothing is collected outside production
WHITENOISE_AUTOREFRESH = DEBUG
