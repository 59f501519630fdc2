"""The explore search body and answer, as the OpenAPI schema documents them (the view reads the body
with ``apps.explorer.api.views.search_body``, stricter than these fields: no type coercion)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.explorer.selectors import PAGE_SIZE_MAX


class ScopeSerializer(serializers.Serializer):
    folder = serializers.UUIDField(allow_null=True, required=False, help_text="null: the whole organisation")
    recursive = serializers.BooleanField(required=False, default=True, help_text="include subfolders")


class SortKeySerializer(serializers.Serializer):
    key = serializers.CharField(required=False, help_text="a metadata key (declared: number, datetime, varchar, "
                                                          "uuid, enum or boolean)")
    field = serializers.CharField(required=False, help_text="a built-in field: type, folder, name, status, "
                                                            "created, file_size, width, height, duration, fps")
    desc = serializers.BooleanField(required=False, default=False)


@extend_schema_field({
    "type": "object", "nullable": True,
    "description": 'A filter tree: {"and": [...]}, {"or": [...]}, {"not": {...}} or a leaf '
                   '{"key"|"field": ..., "op": "eq|ne|lt|lte|gt|gte|between|in|prefix|contains|exists|missing|within", '
                   '"value": ...}.',
})
class FilterField(serializers.JSONField):
    pass


class ExploreSearchSerializer(serializers.Serializer):
    scope = ScopeSerializer(required=False, allow_null=True)
    filter = FilterField(required=False, allow_null=True)
    q = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                              help_text='a written expression: camera in ("cam3", "cam4") and score > 0.8 and not night')
    sort = SortKeySerializer(many=True, required=False, allow_null=True,
                             help_text='default [{"field": "created", "desc": true}]')
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=PAGE_SIZE_MAX, default=100)
    page_token = serializers.CharField(required=False, allow_null=True, help_text="next_page_token of the page before")


class ExploreItemSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.CharField(source="item_type")
    folder = serializers.UUIDField(source="folder_id")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    duration = serializers.FloatField(allow_null=True)
    fps = serializers.FloatField(allow_null=True)
    file_size = serializers.IntegerField(allow_null=True)
    metadata = serializers.JSONField(source="client_metadata")
    thumbnail_url = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "nullable": True})
    def get_thumbnail_url(self, obj) -> str | None:
        return f"/items/{obj.pk}/preview" if obj.preview else None


class ExploreResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    count_exact = serializers.BooleanField()
    results = ExploreItemSerializer(many=True)
    next_page_token = serializers.CharField(allow_null=True)
