"""Placeholder: the embedders (built-in text model, HTTP endpoints) arrive with H2's module, which
replaces this file. Until then no key has a text or image embedder."""

from __future__ import annotations

from apps.core.errors import ServiceValidationError


def text_keys(organisation) -> list:
    """The organisation's embedding keys with a text embedder."""
    return []


def image_keys(organisation) -> list:
    """The organisation's embedding keys whose embedder takes images."""
    return []


def embed_text(*, key, text: str) -> list[float]:
    raise ServiceValidationError({"similar_to.text": f"Key \"{key.name}\" has no text embedder (set one in the schema)."})


def embed_image(*, key, data: bytes) -> list[float]:
    raise ServiceValidationError({"similar_to.image": f"Key \"{key.name}\" has no image embedder (set one in the schema)."})
