# Seed: get_storage_item + copy-and-update of client_metadata, one request per item (no Bundle).
# Changed: domain, key path, and the updates (from the test's ids).
# Import dependencies
from encord import EncordUserClient
from loupe_script import DOMAIN, IDS, SSH_PATH, result

# Authenticate with Encord using the path to your private key
user_client: EncordUserClient = EncordUserClient.create_with_ssh_private_key(
    ssh_private_key_path=SSH_PATH, domain=DOMAIN,
)

# Define a dictionary with item UUIDs and their respective metadata updates
updates = IDS["updates"]

# Update the storage items based on the dictionary
for item_uuid, metadata_update in updates.items():
    item = user_client.get_storage_item(item_uuid=item_uuid)

    # make a copy of the current metadata and update it with the new metadata
    curr_metadata = item.client_metadata.copy()
    curr_metadata.update(metadata_update)

    # update the item with the new metadata
    item.update(client_metadata=curr_metadata)

result({uuid: user_client.get_storage_item(uuid).client_metadata for uuid in updates})
