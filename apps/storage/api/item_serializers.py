"""REST representations of items and storage integrations (input checks only; services write)."""

from __future__ import annotations

from urllib.parse import urlsplit

from rest_framework import serializers

from apps.storage import hooks
from apps.storage.models import Item, ItemType, StorageIntegration

ITEMS_PER_REQUEST = 1000  # move/trash/restore: each item is fetched and checked on its own
ITEM_METADATA_CONTEXT = "item_metadata"  # serializer context: item uuid → full metadata of a page of items


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
