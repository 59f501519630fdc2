from rest_framework import serializers

from apps.core.models import ApiToken, Organisation, OrganisationRole, PublicKey


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


class OrganisationRoleField(serializers.ChoiceField):
    """An organisation role (``OrganisationRoleEnum`` in the OpenAPI schema)."""

    def __init__(self, **kwargs):
        super().__init__(choices=OrganisationRole.choices, **kwargs)


class OrganisationMemberSerializer(serializers.Serializer):
    """One member of the organisation, keyed by their user id (the id the member URLs take)."""

    user = serializers.IntegerField(source="user_id", help_text="The user id: /organisation/members/<user>.")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    is_active = serializers.BooleanField(
        source="user.is_active", help_text="False: the account is deactivated."
    )
    role = OrganisationRoleField()
    joined_at = serializers.DateTimeField(source="created_at")
    folder_roles = serializers.IntegerField(
        source="folder_role_count",
        help_text="Roles held on the organisation's folders; removed with the member.",
    )


class OrganisationMemberAddSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254, help_text="An existing Loupe user's email address.")
    role = OrganisationRoleField(default=OrganisationRole.MEMBER)


class OrganisationMemberRoleSerializer(serializers.Serializer):
    role = OrganisationRoleField()
