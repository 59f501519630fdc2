"""Folder representations for the REST API (input validation only; services do the writing)."""

from rest_framework import serializers

from apps.storage.models import Folder, FolderMember, FolderRole


class FolderSerializer(serializers.ModelSerializer):
    parent = serializers.UUIDField(source="parent_id", read_only=True, allow_null=True)
    organisation = serializers.UUIDField(source="organisation_id", read_only=True)
    path = serializers.ListField(child=serializers.UUIDField(), read_only=True)
    is_trashed = serializers.SerializerMethodField()

    class Meta:
        model = Folder
        fields = [
            "uuid", "organisation", "parent", "path", "name", "description", "client_metadata",
            "created_at", "updated_at", "is_trashed",
        ]
        read_only_fields = fields

    def get_is_trashed(self, obj) -> bool:
        return obj.deleted_at is not None


class FolderCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    parent = serializers.UUIDField(required=False, allow_null=True)
    organisation = serializers.UUIDField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    client_metadata = serializers.DictField(required=False, default=dict)


class FolderUpdateSerializer(serializers.Serializer):
    """PATCH body: rename, describe, or move (``parent``: a uuid, or null for the top level)."""

    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    client_metadata = serializers.DictField(required=False)
    parent = serializers.UUIDField(required=False, allow_null=True)


class FolderMemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = FolderMember
        fields = ["email", "role", "created_at"]


class FolderMemberSetSerializer(serializers.Serializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=FolderRole.choices)
