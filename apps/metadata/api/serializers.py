"""Metadata schema representations for the REST API (input shapes only; the services check the rules)."""

from __future__ import annotations

from rest_framework import serializers

from apps.metadata.models import KeyType, MetadataKey


class MetadataKeySerializer(serializers.ModelSerializer):
    """A key in any state. ``type`` is null unless active; ``deleted_type`` is the type a restore brings back.
    ``embedder`` (embedding keys): ``none``, ``builtin_text`` or ``http``; the ``embedder_*`` fields are
    set for ``http`` only (empty string, empty list, null otherwise)."""

    type = serializers.SerializerMethodField()
    deleted_type = serializers.SerializerMethodField()
    max_length = serializers.SerializerMethodField()

    class Meta:
        model = MetadataKey
        fields = ["name", "type", "state", "deleted_type", "enum_values", "size", "max_length", "embedder",
                  "embedder_url", "embedder_inputs", "embedder_timeout", "created_at", "updated_at"]
        read_only_fields = fields

    def get_type(self, key) -> str | None:
        return key.type or None

    def get_deleted_type(self, key) -> str | None:
        return key.deleted_type or None

    def get_max_length(self, key) -> int | None:
        return key.max_length if key.effective_type == KeyType.VARCHAR else None


class MetadataKeyCreateSerializer(serializers.Serializer):
    """``type``: one of the nine types or an alias (``string``, ``long_string``)."""

    name = serializers.CharField(allow_blank=True, trim_whitespace=False)
    type = serializers.CharField()
    enum_values = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                        required=False, default=list)
    size = serializers.IntegerField(required=False, allow_null=True, default=None)
    max_length = serializers.IntegerField(required=False, default=8192)
    organisation = serializers.UUIDField(required=False, allow_null=True)
    embedder = serializers.CharField(required=False, help_text="embedding keys: none | builtin_text | http")
    embedder_url = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    embedder_inputs = serializers.ListField(child=serializers.CharField(), required=False)
    embedder_timeout = serializers.FloatField(required=False, allow_null=True)


class MetadataKeyUpdateSerializer(serializers.Serializer):
    """PATCH body, one of: ``enum_values`` to add to an enum (existing ones are kept); a new scalar
    ``type`` (with ``max_length`` for a varchar); an embedding key's ``embedder`` (``none``,
    ``builtin_text``, or ``http`` with ``embedder_url``, ``embedder_inputs`` and ``embedder_timeout``)."""

    enum_values = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                        required=False)
    type = serializers.CharField(required=False)
    max_length = serializers.IntegerField(required=False, allow_null=True, default=None)
    embedder = serializers.CharField(required=False)
    embedder_url = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    embedder_inputs = serializers.ListField(child=serializers.CharField(), required=False)
    embedder_timeout = serializers.FloatField(required=False, allow_null=True)


class RetypeExampleSerializer(serializers.Serializer):
    item = serializers.UUIDField()
    frame = serializers.CharField(allow_null=True)
    value = serializers.JSONField()


class RetypeReportSerializer(serializers.Serializer):
    """``invalid`` of the ``checked`` stored values no longer validate; up to 100 ``examples``.
    The values are kept, not dropped."""

    key = serializers.CharField()
    old_type = serializers.CharField()
    new_type = serializers.CharField()
    checked = serializers.IntegerField()
    invalid = serializers.IntegerField()
    examples = RetypeExampleSerializer(many=True)


class MetadataKeyChangedSerializer(MetadataKeySerializer):
    report = serializers.SerializerMethodField()

    class Meta(MetadataKeySerializer.Meta):
        fields = [*MetadataKeySerializer.Meta.fields, "report"]
        read_only_fields = fields

    def get_report(self, key) -> dict | None:
        report = self.context.get("report")
        return RetypeReportSerializer(report).data if report is not None else None


class SchemaSerializer(serializers.Serializer):
    organisation = serializers.UUIDField()
    keys = MetadataKeySerializer(many=True)


class SchemaSavedSerializer(serializers.Serializer):
    """What a whole-schema save changed, then the resulting keys."""

    added = serializers.ListField(child=serializers.CharField())
    retyped = RetypeReportSerializer(many=True)
    enum_values_added = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    soft_deleted = serializers.ListField(child=serializers.CharField())
    restored = serializers.ListField(child=serializers.CharField())
    hard_deleted = serializers.ListField(child=serializers.CharField())
    keys = MetadataKeySerializer(many=True)


EMBEDDER_FIELDS = ("embedder", "embedder_url", "embedder_inputs", "embedder_timeout")


def embedder_spec_from(data: dict):
    """Pop the ``embedder*`` fields from validated input into an ``EmbedderSpec`` (None when absent).
    Giving ``embedder_url``/``inputs``/``timeout`` without ``embedder`` is refused naming ``embedder``."""
    from apps.core.errors import ServiceValidationError
    from apps.metadata.services.schema import EmbedderSpec

    given = {name: data.pop(name) for name in EMBEDDER_FIELDS if name in data}
    if not given:
        return None
    if "embedder" not in given:
        raise ServiceValidationError({"embedder": "Name the embedder (none, builtin_text or http) with its settings."})
    return EmbedderSpec(kind=given["embedder"], url=given.get("embedder_url", ""),
                        inputs=tuple(given.get("embedder_inputs", ())), timeout=given.get("embedder_timeout"))
