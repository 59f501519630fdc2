"""Saved views as the REST API shows them, and their bodies as the OpenAPI schema documents them (the
door reads bodies with ``apps.explorer.api.views_saved.view_body``, stricter than these fields)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.explorer.api.serializers import FilterField, ScopeSerializer, SortKeySerializer
from apps.explorer.models import NAME_MAX, SavedView, ViewLayout
from apps.explorer.selectors_views import (
    COLUMNS_MAX, saved_view_can_change, saved_view_can_delete, saved_view_search_body, saved_view_search_url,
)


class ColumnSerializer(serializers.Serializer):
    key = serializers.CharField(required=False, help_text="a metadata key")
    field = serializers.CharField(required=False, help_text="a built-in field (name, created, width, ...)")


class ViewLayoutSerializer(serializers.Serializer):
    layout = serializers.ChoiceField(choices=ViewLayout.choices, required=False, default=ViewLayout.GRID)
    columns = ColumnSerializer(many=True, required=False, max_length=COLUMNS_MAX,
                               help_text="the table's columns, in order")


class SavedViewWriteSerializer(serializers.Serializer):
    """POST takes ``name`` and any of the rest; PATCH takes any member (only the owner changes a view)."""

    name = serializers.CharField(max_length=NAME_MAX, help_text="unique among your views, and among the "
                                                                "organisation's shared views (case-insensitive)")
    shared = serializers.BooleanField(required=False, default=False,
                                      help_text="true: every member of the organisation sees and opens it")
    organisation = serializers.UUIDField(required=False, help_text="needed only when you belong to several "
                                                                   "organisations (POST only)")
    scope = ScopeSerializer(required=False, allow_null=True)
    filter = FilterField(required=False, allow_null=True)
    q = serializers.CharField(required=False, allow_null=True, allow_blank=True, help_text="a written expression")
    sort = SortKeySerializer(many=True, required=False, allow_null=True,
                             help_text='null: the search default [{"field": "created", "desc": true}]')
    view = ViewLayoutSerializer(required=False)


class SearchLinkSerializer(serializers.Serializer):
    method = serializers.CharField(help_text="POST")
    url = serializers.CharField(help_text="/api/v1/explore/search?organisation=<uuid>")
    body = serializers.JSONField(help_text="the search body: scope, filter, q, sort (add page_size, page_token)")


class SavedViewSerializer(serializers.ModelSerializer):
    """A view with its state, who may change it, and how to run it (``search``)."""

    organisation = serializers.UUIDField(source="organisation_id")
    owner = serializers.EmailField(source="owner.email")
    owned = serializers.SerializerMethodField()
    can_delete = serializers.SerializerMethodField()
    scope = serializers.SerializerMethodField()
    filter = FilterField()
    sort = SortKeySerializer(many=True, allow_null=True)
    view = serializers.SerializerMethodField()
    search = serializers.SerializerMethodField()

    class Meta:
        model = SavedView
        fields = ["uuid", "organisation", "name", "shared", "owner", "owned", "can_delete", "scope", "filter", "q",
                  "sort", "view", "search", "created_at", "updated_at"]
        read_only_fields = fields

    def get_owned(self, obj) -> bool:
        return saved_view_can_change(user=self.context["user"], view=obj)

    def get_can_delete(self, obj) -> bool:
        return saved_view_can_delete(user=self.context["user"], view=obj, admin_of=self.context.get("admin_of"))

    @extend_schema_field(ScopeSerializer)
    def get_scope(self, obj) -> dict:
        return saved_view_search_body(obj)["scope"]

    @extend_schema_field(ViewLayoutSerializer)
    def get_view(self, obj) -> dict:
        return {"layout": obj.layout, "columns": obj.columns}

    @extend_schema_field(SearchLinkSerializer)
    def get_search(self, obj) -> dict:
        return {"method": "POST", "url": saved_view_search_url(obj), "body": saved_view_search_body(obj)}
