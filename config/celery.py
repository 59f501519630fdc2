"""The Celery application. Workers start with ``celery -A config worker``."""

import os

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("loupe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_sweeper = None


@worker_ready.connect
def start_job_sweep(sender=None, **kwargs) -> None:
    """Every worker resumes jobs that a dead worker left half done: at once, then on a timer
    (``apps.core.jobs.jobs_sweep``), so a job never waits for the next worker start."""
    global _sweeper
    from apps.core.jobs import JobSweeper

    _sweeper = JobSweeper()
    _sweeper.start()


@worker_shutdown.connect
def stop_job_sweep(sender=None, **kwargs) -> None:
    if _sweeper is not None:
        _sweeper.shutdown()
