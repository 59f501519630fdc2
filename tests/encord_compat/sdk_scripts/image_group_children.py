# Seed: metadata on every image of an image group, bundled, then re-fetched and checked.
# Changed: domain, key path, the group id; the metadata names the image so each child differs.
from uuid import UUID
from encord import EncordUserClient
from encord.http.bundle import Bundle
from loupe_script import DOMAIN, IDS, SSH_PATH, result

# Initialize the SDK client
user_client = EncordUserClient.create_with_ssh_private_key(
    ssh_private_key_path=SSH_PATH, domain=DOMAIN,
)

# Replace image-group-id with the File ID of the image group
image_group_uuid = IDS["group"]


# Function to define metadata for each image. Can be made dynamic by passing variables.
def _get_metadata_for_image(image):
    return {
        "somekindof": "string",
        "image_name": image.name,
    }


# Fetch the uploaded image group
uploaded_image_group = user_client.get_storage_item(image_group_uuid)

# Retrieve and update metadata for each image in the group
frame_items = uploaded_image_group.get_child_items()
with Bundle() as bundle:
    for frame_item in frame_items:
        # Update client metadata for each image
        frame_item.update(client_metadata=_get_metadata_for_image(frame_item), bundle=bundle)
        print(frame_item.client_metadata)

# Re-fetch and verify updates
updated_frame_items = uploaded_image_group.get_child_items()
for updated_frame_item in updated_frame_items:
    expected_metadata = _get_metadata_for_image(updated_frame_item)
    assert updated_frame_item.client_metadata == expected_metadata

print("Client metadata successfully added and verified for all images in the Image Group.")
result([[str(child.uuid), child.name, child.item_type.value] for child in updated_frame_items])
