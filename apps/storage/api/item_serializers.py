"""REST representations of items, import jobs and storage integrations (input checks only; services write)."""

from __future__ import annotations

import io
import json
from urllib.parse import urlsplit

from django.urls import reverse
from rest_framework import serializers

from apps.imports import importformat
from apps.storage import hooks
from apps.storage.models import ImportJob, ImportJobError, Item, ItemType, StorageIntegration

ITEMS_PER_REQUEST = 1000  # move/trash/restore: each item is fetched and checked on its own
ITEM_METADATA_CONTEXT = "item_metadata"  # serializer context: item uuid → full metadata of a page of items


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


# --------------------------------------------------------------------------- items


class ItemListSerializer(serializers.ListSerializer):
    """A page of items whose metadata (embedding values included) is read with one vector query."""

    def to_representation(self, data):
        items = list(data.all() if hasattr(data, "all") else data)
        self._context[ITEM_METADATA_CONTEXT] = hooks.items_full_metadata(items)
        return super().to_representation(items)


class ItemSerializer(serializers.ModelSerializer):
    """An item with all its media facts. Content and preview are served by the UI app at fixed paths.

    ``client_metadata`` is the metadata as written, embedding values included (they are stored in
    pgvector, not in the item's JSON).
    """

    folder = serializers.UUIDField(source="folder_id", read_only=True)
    parent = serializers.UUIDField(source="parent_id", read_only=True, allow_null=True)
    integration = serializers.UUIDField(source="integration_id", read_only=True, allow_null=True)
    import_job = serializers.UUIDField(source="import_job_id", read_only=True, allow_null=True)
    is_trashed = serializers.SerializerMethodField()
    content_url = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()
    client_metadata = serializers.SerializerMethodField()

    class Meta:
        model = Item
        list_serializer_class = ItemListSerializer
        fields = [
            "uuid", "folder", "parent", "position", "item_type", "name", "description", "url", "integration",
            "client_metadata", "status", "status_reason", "media_source", "file_size", "mime_type", "width",
            "height", "fps", "duration", "frame_count", "codec", "audio_sample_rate", "audio_bit_depth",
            "audio_num_channels", "page_count", "dicom_study_uid", "dicom_series_uid", "dicom_instance_uid",
            "media_info", "import_job", "created_at", "updated_at", "is_trashed", "content_url", "preview_url",
        ]
        read_only_fields = fields

    def get_client_metadata(self, obj) -> dict:
        page = self.context.get(ITEM_METADATA_CONTEXT)
        if page is not None and obj.pk in page:
            return page[obj.pk]
        return hooks.items_full_metadata([obj])[obj.pk]

    def get_is_trashed(self, obj) -> bool:
        return obj.deleted_at is not None

    def get_content_url(self, obj) -> str | None:
        """The file (or a sequence's rendered video); containers without a render have none."""
        return f"/items/{obj.pk}/content" if obj.url or obj.rendered else None

    def get_preview_url(self, obj) -> str | None:
        return f"/items/{obj.pk}/preview" if obj.preview else None


class ItemListQuerySerializer(serializers.Serializer):
    type = serializers.ListField(
        child=serializers.ChoiceField(choices=ItemType.choices), required=False, default=list
    )
    search = serializers.CharField(required=False, allow_blank=True, default="", max_length=1024)


class ItemUpdateSerializer(serializers.Serializer):
    """PATCH body; the service checks the name (blank, length)."""

    name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class ItemsSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.UUIDField(), allow_empty=False, max_length=ITEMS_PER_REQUEST)


class ItemsMoveSerializer(ItemsSerializer):
    destination = serializers.UUIDField()


class ItemsMovedSerializer(serializers.Serializer):
    moved = serializers.IntegerField(help_text="Items moved, children of groups and series included.")


class ItemsTrashedSerializer(serializers.Serializer):
    trash_batch = serializers.UUIDField(help_text="Everything trashed by this request shares this batch.")


class ItemsRestoredSerializer(serializers.Serializer):
    restored = serializers.IntegerField(help_text="Items restored, children of groups and series included.")


# --------------------------------------------------------------------------- import jobs


class ImportJobSerializer(serializers.ModelSerializer):
    folder = serializers.UUIDField(source="folder_id", read_only=True)
    integration = serializers.UUIDField(source="integration_id", read_only=True)
    pending = serializers.IntegerField(read_only=True)
    items_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "uuid", "folder", "status", "file_name", "total", "done", "skipped", "failed", "pending", "error",
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


# --------------------------------------------------------------------------- integrations


class IntegrationSerializer(serializers.ModelSerializer):
    """An integration as anyone in its organisation sees it: never its credentials."""

    organisation = serializers.UUIDField(source="organisation_id", read_only=True)
    has_credentials = serializers.SerializerMethodField()

    class Meta:
        model = StorageIntegration
        fields = [
            "uuid", "organisation", "name", "kind", "endpoint_url", "region", "client_only", "allow_write",
            "has_credentials", "created_at",
        ]
        read_only_fields = fields

    def get_has_credentials(self, obj) -> bool:
        return bool(obj.access_key_id_encrypted and obj.secret_access_key_encrypted)


class IntegrationCreateSerializer(serializers.Serializer):
    organisation = serializers.UUIDField(required=False, allow_null=True,
                                         help_text="Needed only when you belong to several organisations.")
    name = serializers.CharField(max_length=200)
    # Not URLField: Django's URLValidator wants a dotted host and refuses http://minio:9000.
    endpoint_url = serializers.CharField(required=False, allow_blank=True, default="", max_length=200,
                                         help_text="Empty for AWS; e.g. http://minio:9000 otherwise.")
    region = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    access_key_id = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)
    secret_access_key = serializers.CharField(required=False, allow_blank=True, default="", write_only=True,
                                              style={"input_type": "password"})
    client_only = serializers.BooleanField(required=False, default=False)
    allow_write = serializers.BooleanField(required=False, default=False)

    def validate_endpoint_url(self, value: str) -> str:
        value = value.strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
                raise serializers.ValidationError("Enter the endpoint as http(s)://host[:port].")
        return value
