from rest_framework import serializers

from apps.core.models import ApiToken, Organisation, PublicKey


class OrganisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["uuid", "name", "is_default", "created_at"]


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class PublicKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = PublicKey
        fields = ["id", "name", "fingerprint", "key_hex", "created_at", "last_used_at"]


class PublicKeyCreateSerializer(serializers.Serializer):
    openssh = serializers.CharField(help_text="The line from your .pub file: 'ssh-ed25519 AAAA... comment'.")
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
