from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "apps.storage"
    label = "storage"
    verbose_name = "Storage"

    def ready(self) -> None:
        from apps.core.jobs import job_kind_register
        from apps.storage.models import ImportJob

        def enqueue(job_id: str) -> None:
            from apps.storage.tasks import import_job_run_task

            import_job_run_task.delay(job_id)

        job_kind_register(model=ImportJob, enqueue=enqueue)  # import jobs left by a dead worker are resumed
