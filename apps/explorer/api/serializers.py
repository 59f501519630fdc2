"""The explore search body and answer, as the OpenAPI schema documents them (the view reads the body
with ``apps.explorer.api.views.search_body``, stricter than these fields: no type coercion)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.explorer.selectors import PAGE_SIZE_MAX
from apps.similarity.search import K_DEFAULT, K_MAX


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


@extend_schema_field({
    "type": "object", "nullable": True,
    "description": "Nearest items instead of a sorted listing: the k nearest matching items on an embedding key, "
                   "nearest first, each with its cosine distance; filter and scope apply, sort/page_size/page_token "
                   "are refused alongside it. The query is a stored item's vector (the item itself is left out; "
                   "frame: one of a video's frames), a raw vector of the key's size, a sentence (keys with a text "
                   "embedder) or a base64 image (keys whose embedder takes images).",
    "oneOf": [
        {"type": "object", "required": ["key", "item"], "properties": {
            "key": {"type": "string"}, "item": {"type": "string", "format": "uuid"},
            "frame": {"type": "integer", "nullable": True, "minimum": 0}}},
        {"type": "object", "required": ["key", "vector"], "properties": {
            "key": {"type": "string"}, "vector": {"type": "array", "items": {"type": "number"}}}},
        {"type": "object", "required": ["key", "text"], "properties": {
            "key": {"type": "string"}, "text": {"type": "string", "maxLength": 2000}}},
        {"type": "object", "required": ["key", "image"], "properties": {
            "key": {"type": "string"}, "image": {"type": "string", "format": "byte"}}},
    ],
})
class SimilarToField(serializers.JSONField):
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
    similar_to = SimilarToField(required=False, allow_null=True)
    k = serializers.IntegerField(required=False, min_value=1, max_value=K_MAX, default=K_DEFAULT,
                                 help_text="with similar_to: how many nearest items (no pages)")


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
    distance = serializers.FloatField(required=False, help_text="with similar_to only: cosine distance to the query")

    @extend_schema_field({"type": "string", "nullable": True})
    def get_thumbnail_url(self, obj) -> str | None:
        return f"/items/{obj.pk}/preview" if obj.preview else None


class ExploreResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    count_exact = serializers.BooleanField()
    results = ExploreItemSerializer(many=True)
    next_page_token = serializers.CharField(allow_null=True)
