"""Turn a query sentence or image into a vector of an embedding key, with the key's embedder.

An embedding key's embedder is set in the schema (``MetadataKey.embedder``): none, the built-in text
model (``apps.similarity.text_model``, 384-d keys only) or an HTTP endpoint the organisation runs.

What a caller (the search API's ``similar_to.text`` / ``similar_to.image``) may rely on:

* ``embed_text`` / ``embed_image`` return a list of ``key.size`` finite floats.
* A request the key cannot serve raises ``ServiceValidationError`` keyed ``similar_to.text`` or
  ``similar_to.image`` (a 400): the key is not an active embedding key, has no embedder for that
  input, the text is too long, the bytes are not an image.
* An endpoint that fails raises ``UpstreamServiceError`` keyed the same way, which the REST API
  renders as a **502** with that field-keyed body (``apps.core.errors.api_exception_handler``); a page
  shows its message. The request was fine; the organisation's endpoint was not: timeout, refused by
  the fetch guard (a private or internal address not allowed by ``LOUPE_FETCH_ALLOW_HOSTS``), a
  non-2xx answer, a body that is not JSON, or a vector of the wrong size or with non-numbers.

The HTTP protocol (README, "Embedders"): ``POST <url>`` with ``Content-Type: application/json`` and
either ``{"text": "..."}`` or ``{"image": "<base64>", "mime": "image/png"}``; the endpoint answers
2xx with ``{"vector": [<key.size numbers>]}`` within the key's timeout. Redirects are not followed.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math

from django.db.models import Q, QuerySet

from apps.core.errors import ServiceValidationError, UpstreamServiceError
from apps.core.models import Organisation
from apps.metadata.models import EmbedderKind, KeyState, KeyType, MetadataKey
from apps.storage.fetching import FetchError, http_post
from apps.storage.services.integrations import fetch_policy

TEXT_FIELD = "similar_to.text"
IMAGE_FIELD = "similar_to.image"
TEXT_MAX_CHARS = 10_000  # a query sentence; the model reads at most 256 word pieces of it anyway
IMAGE_MAX_BYTES = 20 * 1024 * 1024
# An answer holds at most 4,096 numbers; 1 MiB leaves room for long decimal forms and whitespace.
RESPONSE_MAX_BYTES = 1024 * 1024


def text_keys(organisation: Organisation) -> QuerySet[MetadataKey]:
    """The organisation's active embedding keys a sentence can search (built-in model or an endpoint taking text)."""
    return _active_embedding_keys(organisation).filter(
        Q(embedder=EmbedderKind.BUILTIN_TEXT) | Q(embedder=EmbedderKind.HTTP, embedder_inputs__contains=["text"])
    )


def image_keys(organisation: Organisation) -> QuerySet[MetadataKey]:
    """The organisation's active embedding keys an uploaded image can search (an endpoint taking images)."""
    return _active_embedding_keys(organisation).filter(embedder=EmbedderKind.HTTP,
                                                        embedder_inputs__contains=["image"])


def _active_embedding_keys(organisation) -> QuerySet[MetadataKey]:
    return MetadataKey.objects.filter(organisation=organisation, state=KeyState.ACTIVE, type=KeyType.EMBEDDING)


def embed_text(*, key: MetadataKey, text: str) -> list[float]:
    """``text`` as a vector of ``key`` (see the module docstring for errors)."""
    _require_embedding_key(key, TEXT_FIELD)
    if not isinstance(text, str):
        raise ServiceValidationError({TEXT_FIELD: "The text must be a string."})
    if len(text) > TEXT_MAX_CHARS:
        raise ServiceValidationError({TEXT_FIELD: f"The text has {len(text):,} characters; at most "
                                                  f"{TEXT_MAX_CHARS:,}."})
    if key.embedder == EmbedderKind.BUILTIN_TEXT:
        from apps.similarity.text_model import text_embed

        return [float(x) for x in text_embed([text])[0]]
    if not key.embedder_takes_text:
        raise ServiceValidationError({TEXT_FIELD: _no_embedder(key, "text")})
    return _endpoint_vector(key, {"text": text}, TEXT_FIELD)


def embed_image(*, key: MetadataKey, data: bytes) -> list[float]:
    """An image (file bytes: JPEG, PNG, WebP, ...) as a vector of ``key`` (see the module docstring for errors)."""
    _require_embedding_key(key, IMAGE_FIELD)
    if not key.embedder_takes_image:
        raise ServiceValidationError({IMAGE_FIELD: _no_embedder(key, "image")})
    if not data:
        raise ServiceValidationError({IMAGE_FIELD: "The image is empty."})
    if len(data) > IMAGE_MAX_BYTES:
        raise ServiceValidationError({IMAGE_FIELD: f"The image is {len(data):,} bytes; at most {IMAGE_MAX_BYTES:,}."})
    payload = {"image": base64.b64encode(data).decode("ascii"), "mime": _image_mime(data)}
    return _endpoint_vector(key, payload, IMAGE_FIELD)


def _require_embedding_key(key, field: str) -> None:
    if not isinstance(key, MetadataKey) or key.state != KeyState.ACTIVE or key.type != KeyType.EMBEDDING:
        raise ServiceValidationError({field: f'"{getattr(key, "name", key)}" is not an active embedding key.'})


def _no_embedder(key: MetadataKey, what: str) -> str:
    return (f'Key "{key.name}" has no embedder that takes {"a " if what == "text" else "an "}{what}: '
            "an admin can set one in the metadata schema.")


def _image_mime(data: bytes) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return Image.MIME.get(image.format or "", "application/octet-stream")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ServiceValidationError({IMAGE_FIELD: "The file is not an image Loupe can read."}) from exc


def _endpoint_vector(key: MetadataKey, payload: dict, field: str) -> list[float]:
    """POST ``payload`` to the key's endpoint through the fetch guard and check the vector it answers."""
    policy = dataclasses.replace(
        fetch_policy(organisation_id=key.organisation_id), timeout=float(key.embedder_timeout),
        max_bytes=RESPONSE_MAX_BYTES,
    )
    where = f'The embedder of key "{key.name}"'
    try:
        body = http_post(key.embedder_url, body=json.dumps(payload).encode(), content_type="application/json",
                         policy=policy)
    except FetchError as exc:
        raise UpstreamServiceError({field: f"{where} failed: {exc}"}) from exc
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UpstreamServiceError({field: f"{where} did not answer JSON ({exc})."}) from exc
    vector = answer.get("vector") if isinstance(answer, dict) else None
    if not isinstance(vector, list):
        raise UpstreamServiceError({field: f'{where} answered without a "vector" list.'})
    if len(vector) != key.size:
        raise UpstreamServiceError({field: f"{where} answered a vector of {len(vector)} numbers; the key holds "
                                           f"{key.size}."})
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
        raise UpstreamServiceError({field: f"{where} answered a vector holding something other than finite "
                                           "numbers."})
    if not any(vector):
        raise UpstreamServiceError({field: f"{where} answered a zero vector, which has no direction to compare."})
    return [float(x) for x in vector]
