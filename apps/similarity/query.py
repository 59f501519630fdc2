"""What a similarity search is near to: ``similar_to`` read into a key and a query vector.

One reader for the REST search (``"similar_to": {...}``) and the Explorer page (``similar=<key>&
similar_item=<uuid>[&similar_frame=n]`` or ``similar_text=``), so both refuse the same input with the same
field-keyed messages. The source item must be one the caller may see (404 otherwise, as everywhere);
text and images go through ``apps.similarity.embedders``, whose vectors are checked like any other.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from apps.core.errors import ServiceValidationError
from apps.metadata.models import KeyState, KeyType, MetadataKey
from apps.similarity import embedders
from apps.similarity.search import K_DEFAULT, K_MAX, SimilarAnswer, item_vector, query_vector_check, similar_items
from apps.storage.models import Item

SOURCES = ("item", "vector", "text", "image")
TEXT_MAX = 2000  # characters of a sentence query
IMAGE_MAX_BYTES = 10 * 2**20  # decoded size of an image query


@dataclass(frozen=True)
class SimilarQuery:
    """The key, the query vector, and the source item left out of the results ("more like this")."""

    key: MetadataKey
    vector: list[float]
    source_item: uuid.UUID | None = None
    frame: int | None = None


def similar_k(value, *, place: str = "k") -> int:
    """``k`` when given (a whole number 1..``K_MAX``), else ``K_DEFAULT``."""
    if value is None:
        return K_DEFAULT
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= K_MAX:
        raise ServiceValidationError({place: f"A whole number from 1 to {K_MAX} (default {K_DEFAULT})."})
    return value


def similarity_key(*, organisation, name, place: str) -> MetadataKey:
    """The organisation's active embedding key ``name``; a 400 at ``place`` when unknown or not an embedding."""
    if not isinstance(name, str) or not name:
        raise ServiceValidationError({place: "The name of an embedding key."})
    key = MetadataKey.objects.filter(organisation=organisation, name=name, state=KeyState.ACTIVE).first() \
        if organisation is not None else None
    if key is None:
        raise ServiceValidationError({place: f"Unknown key \"{name[:100]}\"."})
    if key.type != KeyType.EMBEDDING:
        raise ServiceValidationError({place: f"Key \"{name}\" is a {key.type} key, not an embedding."})
    return key


def similar_query_from_json(data, *, user, organisation, place: str = "similar_to") -> SimilarQuery:
    """``{"key": K, "item": uuid, "frame": n|null}`` | ``{"key": K, "vector": [...]}`` | ``{"key": K,
    "text": "..."}`` | ``{"key": K, "image": "<base64>"}`` as a query. Field-keyed 400s at ``place.<member>``;
    a source item the user cannot see (or another organisation's) is a 404."""
    if not isinstance(data, dict):
        raise ServiceValidationError({place: 'An object: {"key": <embedding key>, and one of "item", "vector", '
                                             '"text", "image"}.'})
    unknown = sorted(set(data) - {"key", "frame", *SOURCES})
    if unknown:
        raise ServiceValidationError({f"{place}.{name}"[:200]: "Unknown member." for name in unknown[:10]})
    given = [name for name in SOURCES if name in data]
    if len(given) != 1:
        raise ServiceValidationError({place: 'Give exactly one of "item", "vector", "text", "image".'})
    if "frame" in data and given != ["item"]:
        raise ServiceValidationError({f"{place}.frame": '"frame" goes with "item".'})
    key = similarity_key(organisation=organisation, name=data.get("key"), place=f"{place}.key")
    source = given[0]
    value = data[source]
    if source == "item":
        item = source_item(user=user, organisation=organisation, pk=value, place=f"{place}.item")
        frame = data.get("frame")
        if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < 2**31):
            raise ServiceValidationError({f"{place}.frame": "A frame number (a whole number from 0), or null."})
        vector = item_vector(key=key, item=item, frame=frame, place=f"{place}.item")
        return SimilarQuery(key, vector, item.pk, frame)
    if source == "vector":
        return SimilarQuery(key, query_vector_check(key, value, place=f"{place}.vector"))
    if source == "text":
        if not isinstance(value, str) or not value.strip() or len(value) > TEXT_MAX:
            raise ServiceValidationError({f"{place}.text": f"A sentence of 1 to {TEXT_MAX} characters."})
        vector = embedders.embed_text(key=key, text=value)
        return SimilarQuery(key, query_vector_check(key, vector, place=f"{place}.text"))
    return SimilarQuery(key, query_vector_check(key, embedders.embed_image(key=key, data=_image_bytes(value, place)),
                                                place=f"{place}.image"))


def source_item(*, user, organisation, pk, place: str) -> Item:
    """The live item ``pk`` (any level: a child or a video too) in ``organisation`` that ``user`` may see;
    404 otherwise, a 400 at ``place`` when ``pk`` is not a uuid."""
    try:
        pk = uuid.UUID(pk) if isinstance(pk, str) else None
    except ValueError:
        pk = None
    if pk is None:
        raise ServiceValidationError({place: "An item uuid."})
    item = Item.objects.visible_to(user).live().filter(pk=pk, organisation=organisation).first() \
        if organisation is not None else None
    if item is None or (item.folder_id and item.folder.deleted_at is not None):
        raise Http404("No such item.")
    return item


def _image_bytes(value, place: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise ServiceValidationError({f"{place}.image": "An image file as a base64 string."})
    if len(value) > IMAGE_MAX_BYTES * 4 // 3 + 4:
        raise ServiceValidationError({f"{place}.image": f"At most {IMAGE_MAX_BYTES // 2**20} MB."})
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ServiceValidationError({f"{place}.image": "Not valid base64."}) from None


def similar_result(*, user, organisation, similar_to, k: int, items: QuerySet[Item],
                   place: str = "similar_to") -> tuple[SimilarQuery, SimilarAnswer]:
    """``similar_to`` read (as ``similar_query_from_json``) and answered among ``items`` (the Explorer's
    filtered scope): what the REST search answers, the Explorer page shows and its item pages walk
    through, so all three agree on the order."""
    query = similar_query_from_json(similar_to, user=user, organisation=organisation, place=place)
    answer = similar_items(items=items, key=query.key, vector=query.vector, k=k, exclude_item=query.source_item)
    return query, answer
