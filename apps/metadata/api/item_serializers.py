"""REST shapes of item metadata: bulk write bodies, history entries and video frame entries.

Input serializers check shapes only; the update services check values against the schema (their
400 messages name the item, the key, the expected type and the value).
"""

from __future__ import annotations

import json

from rest_framework import serializers

from apps.metadata.models_jobs import MetadataJobMode
from apps.metadata.records import MetadataChange, MetadataChangeAction
from apps.metadata.services.updates import BULK_MAX_ITEMS

MODE_CHOICES = MetadataJobMode.choices  # the same two modes as metadata jobs (one enum in the OpenAPI schema)

# One metadata object as OpenAPI sees it: any JSON object (the schema types its keys).
METADATA_OBJECT = {"type": "object", "additionalProperties": True,
                   "description": "Custom metadata: key → JSON value (declared keys are typed by the schema)."}


class MetadataObjectField(serializers.JSONField):
    """A JSON value meant to be an object; anything else reaches the service, which names the item."""


class MetadataObjectsField(serializers.DictField):
    """item uuid → metadata object. A map whose values are all objects and which encodes as JSON is
    taken as it is, with one ``json.dumps`` of the whole map: running 1,000 of them through
    ``MetadataObjectField`` one by one returned them unchanged, for ~8 ms. Anything else takes the
    field-by-field path and its per-key errors."""

    def __init__(self, **kwargs):
        super().__init__(child=MetadataObjectField(), **kwargs)

    def to_internal_value(self, data):
        if type(data) is dict and data and all(type(value) is dict for value in data.values()):
            try:
                json.dumps(data)
            except (TypeError, ValueError):
                pass
            else:
                return {str(key): value for key, value in data.items()}
        return super().to_internal_value(data)


class BulkUpdateSerializer(serializers.Serializer):
    item = serializers.UUIDField()
    mode = serializers.ChoiceField(choices=MODE_CHOICES)
    metadata = MetadataObjectField()


class BulkWriteSerializer(serializers.Serializer):
    """Either ``mode`` + ``items`` (uuid → object, one mode for all) or ``updates`` (a mode per item)."""

    mode = serializers.ChoiceField(choices=MODE_CHOICES, required=False)
    items = MetadataObjectsField(required=False,
                                 help_text="item uuid → its new metadata (replace) or merge patch (merge)")
    updates = BulkUpdateSerializer(many=True, required=False)

    def to_internal_value(self, data):
        # Refuse oversized requests before parsing a thousand-plus entries one by one.
        for name in ("items", "updates"):
            entries = data.get(name) if isinstance(data, dict) else None
            if isinstance(entries, dict | list) and len(entries) > BULK_MAX_ITEMS:
                raise serializers.ValidationError({"items": [
                    f"At most {BULK_MAX_ITEMS:,} items per request; send larger sets as a metadata job."]})
        return super().to_internal_value(data)

    def validate(self, attrs):
        has_items, has_updates = "items" in attrs, "updates" in attrs
        if has_items == has_updates:
            raise serializers.ValidationError({"items": ['Send either "mode" with "items", or "updates".']})
        if has_items and "mode" not in attrs:
            raise serializers.ValidationError({"mode": ['"mode" ("replace" or "merge") goes with "items".']})
        if has_items:
            attrs["items"] = {self._uuid(key): value for key, value in attrs["items"].items()}
        return attrs

    @staticmethod
    def _uuid(key):
        try:
            return _UUID_FIELD.to_internal_value(key)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"items": [f"Not an item uuid: {key}"]}) from exc


_UUID_FIELD = serializers.UUIDField()  # one instance: building a field per key cost more than parsing


class BulkResultSerializer(serializers.Serializer):
    item = serializers.UUIDField(source="item_id")
    change = serializers.IntegerField(source="pk", help_text="id of the history entry this write recorded")
    action = serializers.ChoiceField(choices=MetadataChangeAction.choices)
    keys = serializers.ListField(child=serializers.CharField(), help_text="top-level keys whose value changed")


class BulkResponseSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


class MetadataChangeSerializer(serializers.ModelSerializer):
    """One history entry: whole objects before and after (embedding values included)."""

    user = serializers.SerializerMethodField()
    before = serializers.JSONField()
    after = serializers.JSONField()
    reverts = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = MetadataChange
        fields = ["id", "at", "user", "action", "keys", "before", "after", "reverts"]
        read_only_fields = fields

    def get_user(self, change) -> str | None:
        """The email of who made the change (null once that account is deleted)."""
        return change.user.email if change.user is not None else None


class FrameEntrySerializer(serializers.Serializer):
    frame = serializers.IntegerField()
    time = serializers.FloatField(help_text="seconds from the start: frame / fps")
    key_frame = serializers.BooleanField(help_text="named in $encord.frames or the legacy keyframes list")
    sampled = serializers.BooleanField(help_text="taken at $encord.config.sampling_rate")
    metadata = serializers.JSONField(allow_null=True, help_text="a key frame's own metadata; null otherwise")


class ItemFramesSerializer(serializers.Serializer):
    item = serializers.UUIDField()
    fps = serializers.FloatField(allow_null=True)
    frame_count = serializers.IntegerField(allow_null=True)
    sampling_rate = serializers.FloatField()
    keyframe_mode = serializers.CharField()
    frames = FrameEntrySerializer(many=True)
