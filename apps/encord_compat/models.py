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


class SignedRequestClaim(models.Model):
    """One signed write (a key and the signature bytes it made), claimed by the first request that
    carried it, and that request's response once it has one.

    The unique constraint is the claim: whichever request inserts the row first runs the view; every
    identical request gets the stored response instead. A row without a response is a request still
    running (or one whose process died mid-request: its outcome is unknown, so it is never re-run).
    Rows are deleted once ``expires_at`` has passed, when the signature would be refused as stale.
    """

    key = models.ForeignKey("core.PublicKey", on_delete=models.CASCADE, related_name="+")
    signature = models.BinaryField(max_length=64)
    expires_at = models.DateTimeField(db_index=True)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_content_type = models.CharField(max_length=200, null=True)
    response_body = models.BinaryField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "signature"], name="encord_signed_request_once")]

    def __str__(self) -> str:
        return f"{self.key_id} {bytes(self.signature).hex()[:16]}… status={self.response_status}"
