"""Storage integrations: how Loupe (or only the user's browser) reaches the files behind URLs."""

from __future__ import annotations

from django.db import models

from apps.core.models import Organisation, TimestampedModel, UUIDModel


class StorageIntegrationKind(models.TextChoices):
    BUILTIN = "builtin", "Public HTTP(S) URLs and local roots"
    S3 = "s3", "S3-compatible bucket"


class StorageIntegration(UUIDModel, TimestampedModel):
    """Credentials and rules for reading the files an import names.

    Every organisation has one built-in integration (public HTTP(S) URLs plus the admin-configured
    local roots). S3 integrations carry an endpoint and credentials, stored encrypted
    (``apps.core.crypto``). A ``client_only`` integration is Encord's "strict client-only access":
    Loupe never reads the files, each entry must bring its media metadata, and previews load in the
    user's browser straight from the URLs.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=StorageIntegrationKind.choices)
    # A CharField: URLField refuses hosts without a dot (http://minio:9000); the service checks the form.
    endpoint_url = models.CharField(max_length=500, blank=True, help_text="Empty for AWS; e.g. http://minio:9000 otherwise.")
    region = models.CharField(max_length=64, blank=True)
    access_key_id_encrypted = models.TextField(blank=True)
    secret_access_key_encrypted = models.TextField(blank=True)
    client_only = models.BooleanField(default=False)
    allow_write = models.BooleanField(
        default=False, help_text="Loupe may write rendered files (image sequences) next to the sources."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="unique_integration_name"),
            models.UniqueConstraint(
                fields=["organisation"], condition=models.Q(kind="builtin"), name="one_builtin_integration"
            ),
        ]

    def __str__(self) -> str:
        return self.name
