from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """The import pipeline: registration files, uploads and the jobs that register them.

    It sits above ``storage`` (the folders, items and the ImportJob rows it writes) and ``metadata``
    (whose rules every entry's metadata must pass), so neither of those imports it.
    """

    name = "apps.imports"
    label = "imports"
    verbose_name = "Imports"

    def ready(self) -> None:
        from apps.core.jobs import job_kind_register
        from apps.storage.hooks import hook_set
        from apps.storage.models import ImportJob

        def enqueue(job_id: str) -> None:
            from apps.imports.tasks import import_job_run_task

            import_job_run_task.delay(job_id)

        job_kind_register(model=ImportJob, enqueue=enqueue)  # import jobs left by a dead worker are resumed
        # Storage rebuilds an entry's JSON pointer (for a file that fails to probe) through this hook.
        hook_set("import_file_entry_counts", _entry_counts)


def _entry_counts(handle) -> dict[str, int]:
    from apps.imports.importformat import ImportFileError, scan_import_file

    try:
        return scan_import_file(handle)[1]
    except ImportFileError as exc:
        raise ValueError(str(exc)) from None
