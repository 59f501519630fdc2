"""The Celery application. Workers start with ``celery -A config worker``."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("loupe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def resume_interrupted_work(sender=None, **kwargs) -> None:
    """A starting worker picks up import and metadata jobs that a killed worker left half done."""
    from django.conf import settings

    from apps.metadata.services.jobs import metadata_jobs_resume_stale
    from apps.imports.services.imports import import_jobs_resume_stale

    import_jobs_resume_stale(stale_after_s=settings.LOUPE_STALE_JOB_SECONDS)
    metadata_jobs_resume_stale(stale_after_s=settings.LOUPE_STALE_JOB_SECONDS)
