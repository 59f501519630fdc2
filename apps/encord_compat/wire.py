"""Loupe objects as the Encord SDK's pydantic models expect them (spec/encord-compat.md, Objects).

Every key the SDK's models declare is present (null where Loupe has nothing), keys are camelCase,
``clientMetadata`` is a JSON-encoded string, and enum values are the SDK's camelCase names. Read-only:
these functions never write.
"""

from __future__ import annotations

import json
import uuid

from django.urls import reverse

from apps.metadata.services.derived import metadata_with_vectors
from apps.storage.models import Folder, FolderRole, Item, ItemType, StorageIntegration
from apps.storage.models.integrations import StorageIntegrationKind
from apps.storage.signed_links import item_content_token

ITEM_TYPES = {
    ItemType.IMAGE: "image",
    ItemType.VIDEO: "video",
    ItemType.AUDIO: "audio",
    ItemType.TEXT: "plainText",
    ItemType.PDF: "pdf",
    ItemType.NIFTI: "nifti",
    ItemType.IMAGE_GROUP: "imageGroup",
    ItemType.IMAGE_SEQUENCE: "imageSequence",
    ItemType.DICOM_SERIES: "dicomSeries",
    ItemType.DICOM_FILE: "dicomFile",
}
LOUPE_ITEM_TYPES = {wire: loupe for loupe, wire in ITEM_TYPES.items()}
LOUPE_ITEM_TYPES["group"] = ItemType.IMAGE_GROUP  # the SDK's generic group: Loupe's only group kind


def item_type_loupe(wire_type: str) -> str | None:
    """Loupe's type for an SDK ``itemTypes`` value (camelCase or SNAKE_CASE), or None if Loupe has none."""
    if wire_type in LOUPE_ITEM_TYPES:
        return LOUPE_ITEM_TYPES[wire_type]
    head, *rest = wire_type.lower().split("_")
    return LOUPE_ITEM_TYPES.get(head + "".join(part.title() for part in rest))


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _storage_location(item: Item, integration: StorageIntegration | None) -> str:
    if integration is not None and integration.kind == StorageIntegrationKind.S3:
        return "s3" if not integration.endpoint_url else "s3Compatible"
    if item.url.startswith(("http://", "https://")):
        return "directAccess"
    return "encord"  # files Loupe holds itself (uploads, local roots)


def _signed_url(item: Item, base_url: str, user) -> str | None:
    """A URL the caller can GET without credentials: public HTTP(S) URLs as they are, anything else
    (local roots, uploads, S3, rendered sequences) as a time-limited Loupe link issued to ``user``, so
    it stops working the moment they may no longer read the item. Groups and series have no file."""
    if item.url.startswith(("http://", "https://")):
        return item.url
    has_file = item.item_type == ItemType.IMAGE_SEQUENCE or (item.url and not item.is_container)
    if not has_file:
        return None
    return base_url.rstrip("/") + reverse("storage:item-content-signed", args=[item_content_token(item.pk, user.pk)])


# Item columns the wire never shows: large JSON kept off the 1,000-row pages.
WIRE_DEFERRED = ("media_info", "preview_frames", "status_reason")


def items_wire(items: list[Item], *, base_url: str, user, sign_urls: bool = False,
               include_metadata: bool = True) -> list[dict]:
    """StorageItem objects for ``items``: metadata (with embedding values), owners and integrations are
    read in one query each, so a page costs the same whether or not the caller joined anything.

    ``base_url`` (scheme and host the caller used) makes signed links absolute; ``user`` is the caller,
    to whom signed links are issued.
    """
    from apps.core.models import User

    metadata = metadata_with_vectors(items) if include_metadata else {}
    owners = dict(User.objects.filter(pk__in={i.created_by_id for i in items if i.created_by_id})
                  .values_list("pk", "email"))
    integrations = StorageIntegration.objects.in_bulk({i.integration_id for i in items if i.integration_id})
    return [
        _item_wire(item, metadata.get(item.pk, {}), owner=owners.get(item.created_by_id, ""),
                   integration=integrations.get(item.integration_id),
                   signed_url=_signed_url(item, base_url, user) if sign_urls else None)
        for item in items
    ]


def item_wire(item: Item, *, base_url: str, user, sign_url: bool = False) -> dict:
    return items_wire([item], base_url=base_url, user=user, sign_urls=sign_url)[0]


def _item_wire(item: Item, metadata: dict, *, owner: str, integration: StorageIntegration | None,
               signed_url: str | None) -> dict:
    return {
        "uuid": str(item.pk),
        "parent": str(item.folder_id),
        "itemType": ITEM_TYPES.get(item.item_type, item.item_type),
        "name": item.name,
        "description": item.description,
        "clientMetadata": json.dumps(metadata),
        "owner": owner,
        "createdAt": _iso(item.created_at),
        "lastEditedAt": _iso(item.updated_at),
        "isTombstone": item.deleted_at is not None,
        "isPlaceholder": False,
        "backedDataUnitsCount": 0,
        "storageLocation": _storage_location(item, integration),
        "integrationHash": str(item.integration_id) if item.integration_id else None,
        "url": item.url or None,
        "signedUrl": signed_url,
        "fileSize": item.file_size,
        "mimeType": item.mime_type or None,
        "duration": item.duration,
        "fps": item.fps,
        "height": item.height,
        "width": item.width,
        "dicomInstanceUid": item.dicom_instance_uid or None,
        "dicomStudyUid": item.dicom_study_uid or None,
        "dicomSeriesUid": item.dicom_series_uid or None,
        "frameCount": item.frame_count,
        "audioSampleRate": item.audio_sample_rate,
        "audioBitDepth": item.audio_bit_depth,
        "audioCodec": (item.codec or None) if item.item_type == ItemType.AUDIO else None,
        "audioNumChannels": item.audio_num_channels,
        "timeseriesSettings": None,
    }


def folders_wire(folders: list[Folder], *, user) -> list[dict]:
    """StorageFolder objects for ``folders`` as ``user`` sees them, in a fixed number of queries
    (roles, owners and every ancestor of the page are read once, not per folder)."""
    from apps.core.models import User
    from apps.core.selectors import organisation_admin_ids
    from apps.storage.models import FolderMember

    admin_orgs = organisation_admin_ids(user=user)
    member_roles = dict(FolderMember.objects.filter(folder_id__in={f.root_id for f in folders}, user=user)
                        .values_list("folder_id", "role"))
    owners = dict(User.objects.filter(pk__in={f.created_by_id for f in folders if f.created_by_id})
                  .values_list("pk", "email"))
    ancestors = Folder.objects.only("pk", "parent_id", "name").in_bulk({pk for f in folders for pk in f.path})
    out = []
    for folder in folders:
        role = FolderRole.ADMIN if folder.organisation_id in admin_orgs else member_roles.get(folder.root_id)
        chain = [ancestors[pk] for pk in folder.path if pk in ancestors] + [folder]
        out.append(_folder_wire(folder, role=role, owner=owners.get(folder.created_by_id, ""), chain=chain))
    return out


def _folder_wire(folder: Folder, *, role: str | None, owner: str, chain: list[Folder]) -> dict:
    return {
        "uuid": str(folder.pk),
        "parent": str(folder.parent_id) if folder.parent_id else None,
        "name": folder.name,
        "description": folder.description,
        "clientMetadata": json.dumps(folder.client_metadata or {}),
        "owner": owner,
        "createdAt": _iso(folder.created_at),
        "lastEditedAt": _iso(folder.updated_at),
        "userRole": "admin" if role == FolderRole.ADMIN else "user",
        "syncedDatasetHash": None,
        "pathToRoot": [
            {"uuid": str(f.pk), "parentUuid": str(f.parent_id) if f.parent_id else None, "name": f.name,
             "syncedDatasetHash": None}
            for f in chain
        ],
        "folderType": "generic",
        "integrationHash": None,
        "remoteUrl": None,
    }


def subtask_uuid(job_id, entry_index: int) -> str:
    """A stable id for one entry of an upload job (the SDK's ``subtaskUuid``)."""
    return str(uuid.uuid5(uuid.UUID(str(job_id)), str(entry_index)))
