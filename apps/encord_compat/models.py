"""What the Encord protocol needs remembered beyond Loupe's own import job."""

from __future__ import annotations

from django.db import models


class UploadJobOptions(models.Model):
    """The ``ignoreErrors`` flag of an import job submitted through ``data-upload-jobs``.

    Loupe always registers the valid entries of a file; the flag only decides how the finished job
    is reported to the SDK: ``ERROR`` when any entry failed (``ignoreErrors: false``, Encord's
    default), or ``DONE`` with the errors listed (``true``).
    """

    import_job = models.OneToOneField(
        "storage.ImportJob", on_delete=models.CASCADE, primary_key=True, related_name="encord_options"
    )
    ignore_errors = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.import_job_id} ignore_errors={self.ignore_errors}"
