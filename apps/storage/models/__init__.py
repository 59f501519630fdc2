"""Storage models: folders, items, storage integrations and import jobs."""

from apps.storage.models.folders import Folder, FolderMember, FolderRole
from apps.storage.models.imports import ImportJob, ImportJobError, ImportJobStatus
from apps.storage.models.integrations import StorageIntegration, StorageIntegrationKind
from apps.storage.models.items import Item, ItemStatus, ItemType

__all__ = [
    "Folder", "FolderMember", "FolderRole", "ImportJob", "ImportJobError", "ImportJobStatus",
    "Item", "ItemStatus", "ItemType", "StorageIntegration", "StorageIntegrationKind",
]
