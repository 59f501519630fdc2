"""Accounts, organisations and API credentials: the identity layer every other app builds on."""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class UUIDModel(models.Model):
    """Base for objects that appear in URLs and APIs: a random UUID primary key, never a sequence."""

    uuid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class UserManager(BaseUserManager):
    """Users log in with their email address."""

    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        """A superuser is also an admin of the default organisation, so the UI shows them everything."""
        from apps.core.services import organisation_default_get_or_create, organisation_member_set

        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        user = self.create_user(email, password, **extra)
        organisation_member_set(
            organisation=organisation_default_get_or_create(), user=user, role=OrganisationRole.ADMIN
        )
        return user


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in to Loupe (browser session, API token or SSH key)."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class Organisation(UUIDModel, TimestampedModel):
    """A tenant: it owns folders, the metadata schema and storage integrations."""

    name = models.CharField(max_length=200, unique=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_organisation"
            )
        ]

    def __str__(self) -> str:
        return self.name


class OrganisationRole(models.TextChoices):
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"


class OrganisationMember(TimestampedModel):
    """Membership of a user in an organisation. Organisation admins see everything in it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="organisation_memberships")
    role = models.CharField(max_length=16, choices=OrganisationRole.choices, default=OrganisationRole.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="unique_organisation_member")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


class ApiToken(TimestampedModel):
    """A bearer token for the REST and Encord-compatible APIs.

    Only a SHA-256 digest is stored; the token itself is shown once, when it is created. The first
    characters (``prefix``) are kept in clear so users can tell their tokens apart.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class PublicKey(TimestampedModel):
    """An Ed25519 public key a user registered for signed (Encord SDK) requests.

    ``key_hex`` is the raw 32-byte key in hex: the ``keyid`` the SDK sends with each signature.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="public_keys")
    name = models.CharField(max_length=100)
    key_hex = models.CharField(max_length=64, unique=True)
    openssh = models.TextField(help_text="The key as registered, in OpenSSH format.")
    fingerprint = models.CharField(max_length=80)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint})"
