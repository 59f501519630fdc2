"""Tasks of the core app."""

from celery import shared_task


@shared_task(name="core.ping")
def ping_task(value: str) -> dict:
    """Round-trip check used by operators and tests: proves broker, worker and result backend work."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM core_organisation")
        organisations = cursor.fetchone()[0]
    return {"echo": value, "organisations": organisations}
