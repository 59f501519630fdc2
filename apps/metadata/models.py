"""The metadata schema (one row per key an organisation ever declared) and the embeddings store."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from pgvector.django import VectorField

from apps.core.models import Organisation, TimestampedModel
from apps.metadata import validation
from apps.metadata.validation import KeySpec, Tombstone


class KeyType(models.TextChoices):
    BOOLEAN = "boolean", "Boolean"
    NUMBER = "number", "Number"
    DATETIME = "datetime", "Date and time"
    UUID = "uuid", "UUID"
    VARCHAR = "varchar", "Short text (varchar)"
    TEXT = "text", "Long text"
    ENUM = "enum", "Enum"
    EMBEDDING = "embedding", "Embedding"
    GEOSPATIAL = "geospatial", "Geospatial"


class KeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    DELETED = "deleted", "Deleted (restorable)"
    TOMBSTONE = "tombstone", "Hard deleted"


class EmbedderKind(models.TextChoices):
    """What turns a query (a sentence, an uploaded image) into a vector of an embedding key."""

    NONE = "none", "None"
    BUILTIN_TEXT = "builtin_text", "Built-in text model (all-MiniLM-L6-v2, 384-d)"
    HTTP = "http", "HTTP endpoint"


EMBEDDER_INPUTS = ("text", "image")
BUILTIN_TEXT_SIZE = 384  # all-MiniLM-L6-v2's vectors
EMBEDDER_TIMEOUT_MAX = 120  # seconds: a search request waits for the endpoint
EMBEDDER_URL_MAX = 2000

_EMBEDDING = Q(type=KeyType.EMBEDDING) | Q(deleted_type=KeyType.EMBEDDING)


class MetadataKey(TimestampedModel):
    """A key of an organisation's metadata schema, in one of three states.

    ``active``: ``type`` holds the type. ``deleted`` (soft): ``type`` is empty and ``deleted_type`` holds
    the type to restore; values stay stored but are untyped meanwhile. ``tombstone`` (hard): both are
    empty, the row only keeps the name taken forever. ``enum_values`` (sorted) and ``size`` survive a
    soft delete. The constraints below make any other combination impossible. Undeclared keys have
    no row. Rows are written by ``apps.metadata.services.schema`` only.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="metadata_keys")
    name = models.CharField(max_length=validation.KEY_NAME_MAX)
    type = models.CharField(max_length=16, choices=KeyType.choices, blank=True)
    enum_values = models.JSONField(default=list, blank=True)
    size = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Embedding keys only.")
    max_length = models.PositiveSmallIntegerField(
        default=validation.VARCHAR_MAX_LENGTH, help_text="Varchar keys only."
    )
    state = models.CharField(max_length=16, choices=KeyState.choices, default=KeyState.ACTIVE)
    deleted_type = models.CharField(max_length=16, choices=KeyType.choices, blank=True)
    bulk_loads = models.PositiveIntegerField(
        default=0, help_text="Large imports running now; the key's indexes (HNSW, Explorer) are rebuilt when the last ends."
    )
    # Embedding keys only: how a query sentence or image becomes a vector (apps.similarity.embedders).
    # Like ``size``, the embedder survives a soft delete; a hard delete clears it.
    embedder = models.CharField(max_length=16, choices=EmbedderKind.choices, default=EmbedderKind.NONE)
    embedder_url = models.CharField(max_length=EMBEDDER_URL_MAX, blank=True, help_text="HTTP embedders only.")
    embedder_inputs = models.JSONField(
        default=list, blank=True, help_text='HTTP embedders only: what the endpoint takes, ["text"], ["image"] or both.'
    )
    embedder_timeout = models.FloatField(null=True, blank=True, help_text="HTTP embedders only: seconds.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="unique_metadata_key_name"),
            models.CheckConstraint(condition=~Q(name=""), name="metadata_key_name_not_blank"),
            models.CheckConstraint(
                condition=(
                    (Q(state=KeyState.ACTIVE, deleted_type="") & ~Q(type=""))
                    | (Q(state=KeyState.DELETED, type="") & ~Q(deleted_type=""))
                    | Q(state=KeyState.TOMBSTONE, type="", deleted_type="")
                ),
                name="metadata_key_state_matches_type",
            ),
            models.CheckConstraint(
                condition=(_EMBEDDING & Q(size__gte=1, size__lte=validation.EMBEDDING_SIZE_MAX))
                | (~_EMBEDDING & Q(size__isnull=True)),
                name="metadata_key_size_for_embeddings",
            ),
            models.CheckConstraint(
                condition=Q(max_length__gte=1, max_length__lte=validation.VARCHAR_MAX_LENGTH),
                name="metadata_key_max_length_range",
            ),
            models.CheckConstraint(
                condition=Q(embedder=EmbedderKind.NONE, embedder_url="", embedder_inputs=[], embedder_timeout=None)
                | (_EMBEDDING & Q(embedder=EmbedderKind.BUILTIN_TEXT, size=BUILTIN_TEXT_SIZE, embedder_url="",
                                  embedder_inputs=[], embedder_timeout=None))
                | (_EMBEDDING & Q(embedder=EmbedderKind.HTTP, embedder_timeout__gt=0,
                                  embedder_timeout__lte=EMBEDDER_TIMEOUT_MAX) & ~Q(embedder_url="")
                   & ~Q(embedder_inputs=[])),
                name="metadata_key_embedder_fits",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_type(self) -> str:
        """The type, or for a soft-deleted key the type it will have again once restored ("" for tombstones)."""
        return self.type or self.deleted_type

    def definition(self) -> KeySpec | None:
        """The key's definition (a soft-deleted key's as it was); None for a tombstone."""
        if not self.effective_type:
            return None
        return KeySpec(
            name=self.name, type=self.effective_type, enum_values=tuple(self.enum_values), size=self.size,
            max_length=self.max_length,
        )

    def spec(self) -> KeySpec | None:
        """The definition values are validated against: active keys only."""
        return self.definition() if self.state == KeyState.ACTIVE else None

    @property
    def embedder_takes_text(self) -> bool:
        """Whether a sentence can be turned into this key's vectors (built-in model or an endpoint taking text)."""
        return self.embedder == EmbedderKind.BUILTIN_TEXT or (
            self.embedder == EmbedderKind.HTTP and "text" in self.embedder_inputs
        )

    @property
    def embedder_takes_image(self) -> bool:
        return self.embedder == EmbedderKind.HTTP and "image" in self.embedder_inputs

    def sdk_entry(self) -> KeySpec | Tombstone:
        """This key as the SDK body shows it: a definition, or a tombstone (with the old type if soft)."""
        if self.state == KeyState.ACTIVE:
            return self.definition()
        return Tombstone(name=self.name, deleted=self.definition())


class Embedding(models.Model):
    """One vector of an embedding key, for an item (``frame`` null) or one of a video's frames.

    All sizes share one untyped ``vector`` column; each embedding key has its own partial HNSW index
    over a sized cast of it (``apps.metadata.vector_indexes``), which a query must repeat to use.
    That index also refuses a vector of the wrong size for its key.
    """

    id = models.BigAutoField(primary_key=True)
    # (key, item, frame) is unique, and its index serves lookups by key: no separate key index.
    key = models.ForeignKey(MetadataKey, on_delete=models.CASCADE, related_name="embeddings", db_index=False)
    item = models.ForeignKey("storage.Item", on_delete=models.CASCADE, related_name="+", db_index=False)
    frame = models.IntegerField(null=True, blank=True, help_text="Video frame number; empty for the item itself.")
    vector = VectorField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "item", "frame"], nulls_distinct=False, name="unique_embedding_key_item_frame"
            )
        ]
        indexes = [models.Index(fields=["item"], name="metadata_embedding_item")]

    def __str__(self) -> str:
        return f"{self.key_id}/{self.item_id}" + (f"@{self.frame}" if self.frame is not None else "")
from apps.metadata.records import Frame, MetadataChange  # noqa: E402,F401  (key frames, history)
from apps.metadata.models_jobs import MetadataJob, MetadataJobError  # noqa: E402,F401  (bulk metadata jobs)
