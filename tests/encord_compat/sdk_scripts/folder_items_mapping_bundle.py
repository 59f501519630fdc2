# Seed: per-item updates keyed by item uuid, over folder.list_items(), with Bundle().
# Changed: domain, key path, folder id, and the updates (filled in from the test's ids).
from uuid import UUID

# Import dependencies
from encord import EncordUserClient
from encord.http.bundle import Bundle
from encord.orm.storage import StorageFolder, StorageItem, StorageItemType, FoldersSortBy
from loupe_script import DOMAIN, IDS, SSH_PATH, result

# Authentication
FOLDER_HASH = IDS["folder"]

# Authenticate with Encord using the path to your private key
user_client: EncordUserClient = EncordUserClient.create_with_ssh_private_key(
    ssh_private_key_path=SSH_PATH, domain=DOMAIN,
)

folder = user_client.get_storage_folder(FOLDER_HASH)

updates = {UUID(uuid): update for uuid, update in IDS["updates"].items()}

# Use the Bundle context manager
with Bundle() as bundle:
    for storage_item in folder.list_items():
        # Update each item with client metadata
        update = updates[storage_item.uuid]
        storage_item.update(client_metadata=update, bundle=bundle)

result(None)
