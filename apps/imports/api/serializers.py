"""REST representations of import jobs and their errors, and the checks of a submitted file."""

from __future__ import annotations

import io
import json

from django.urls import reverse
from rest_framework import serializers

from apps.imports import importformat
from apps.storage.models import ImportJob, ImportJobError


def import_file_refusal(fileobj) -> str | None:
    """Why an uploaded import cannot be a registration file at all, or None when it may be one.

    Only the first non-blank byte is checked here, so a submit stays instant for a file of any size:
    a file that does not start with ``{`` is then scanned, which fails within its first bytes and
    gives the importer's own wording. Everything else (keys, limits, entries) is reported by the job.
    """
    start = fileobj.read(64).lstrip()
    fileobj.seek(0)
    if start.startswith(b"{"):
        return None
    try:
        importformat.scan_import_file(fileobj)
    except importformat.ImportFileError as exc:
        return str(exc)
    finally:
        fileobj.seek(0)
    return None  # the first bytes were all whitespace and the scan found a valid file after them


def import_data_refusal(data) -> str | None:
    """The same rule for an ``application/json`` body DRF has already parsed."""
    if isinstance(data, dict):
        return None
    return import_file_refusal(io.BytesIO(json.dumps(data).encode()))


class ImportJobSerializer(serializers.ModelSerializer):
    folder = serializers.UUIDField(source="folder_id", read_only=True)
    integration = serializers.UUIDField(source="integration_id", read_only=True)
    done = serializers.IntegerField(
        read_only=True, help_text="Entries registered (or metadata upserted) whose files were read, or are still "
        "to be read. Each entry is counted once: done + skipped + failed + probe_failed + pending = total.")
    failed = serializers.IntegerField(read_only=True, help_text="Entries refused: no item was made (errors_url).")
    probe_failed = serializers.IntegerField(
        read_only=True, help_text="Entries registered whose file (or one of whose files) could not be read: the item "
        "exists with status failed; listed in errors_url with stage probe.")
    pending = serializers.IntegerField(read_only=True)
    items_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "uuid", "folder", "status", "file_name", "total", "done", "skipped", "failed", "probe_failed", "pending", "error",
            "created_at", "started_at", "finished_at", "integration", "items_url", "errors_url",
        ]
        read_only_fields = fields

    def get_items_url(self, obj) -> str:
        return self._absolute(reverse("import-job-items", args=[obj.pk]))

    def get_errors_url(self, obj) -> str:
        return self._absolute(reverse("import-job-errors", args=[obj.pk]))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ImportJobErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJobError
        fields = ["entry_index", "pointer", "reason", "urls", "stage"]
        read_only_fields = fields


class ImportOptionsSerializer(serializers.Serializer):
    """Options of a submit, from form fields or the query string (either one turning an option on is enough,
    and so is the file's own ``skip_duplicate_urls``/``upsert_metadata``)."""

    integration = serializers.UUIDField(required=False, allow_null=True)
    all_or_nothing = serializers.BooleanField(required=False, default=False)
    skip_duplicate_urls = serializers.BooleanField(required=False, default=False)
    upsert_metadata = serializers.BooleanField(required=False, default=False)


class ImportUploadSerializer(ImportOptionsSerializer):
    file = serializers.FileField(help_text="A JSON registration file (see the import format).")

    def validate_file(self, value):
        refusal = import_file_refusal(value)
        if refusal is not None:
            raise serializers.ValidationError(refusal)
        return value
