# Seed: get_storage_item + copy-and-update with Bundle(), including $encord key frames and frame
# embeddings. Changed: domain, key path, and the updates (from the test's ids).
# Import dependencies
from encord import EncordUserClient
from encord.http.bundle import Bundle
from encord.orm.storage import StorageFolder, StorageItem, StorageItemType, FoldersSortBy
from loupe_script import DOMAIN, IDS, SSH_PATH, result

# Authenticate with Encord using the path to your private key
user_client: EncordUserClient = EncordUserClient.create_with_ssh_private_key(
    ssh_private_key_path=SSH_PATH, domain=DOMAIN,
)

updates = IDS["updates"]

# Use the Bundle context manager
with Bundle() as bundle:
    # Update the storage items based on the dictionary
    for item_uuid, metadata_update in updates.items():
        item = user_client.get_storage_item(item_uuid=item_uuid)

        # Make a copy of the current metadata and update it with the new metadata
        curr_metadata = item.client_metadata.copy()
        curr_metadata.update(metadata_update)

        # Update the item with the new metadata and bundle
        item.update(client_metadata=curr_metadata, bundle=bundle)

result({str(item.uuid): item.client_metadata for item in user_client.get_storage_items(list(updates))})
