from django.apps import AppConfig


class MetadataConfig(AppConfig):
    name = "apps.metadata"
    label = "metadata"
    verbose_name = "Metadata"

    def ready(self) -> None:
        from apps.core.jobs import job_kind_register
        from apps.metadata.models_jobs import MetadataJob

        def enqueue(job_id: str) -> None:
            from apps.metadata.tasks import metadata_job_run_task

            metadata_job_run_task.delay(job_id)

        job_kind_register(model=MetadataJob, enqueue=enqueue)  # metadata jobs left by a dead worker are resumed
