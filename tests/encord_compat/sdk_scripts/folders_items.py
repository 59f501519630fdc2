# Folders and items through the SDK: create (top level and nested), get, list, subfolders, update,
# get_storage_items in request order, list_items / find_items with search, types, order and paging,
# moving and deleting items and folders. IDS: folder (with registered items), items (their uuids).
from encord import EncordUserClient
from encord.orm.storage import FoldersSortBy, StorageItemType
from loupe_script import DOMAIN, IDS, SSH_PATH, result

user_client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=SSH_PATH, domain=DOMAIN)
out = {}

top = user_client.create_storage_folder("sdk-top", description="made by the SDK", client_metadata={"team": "cv"})
nested = user_client.create_storage_folder("sdk-nested", parent_folder=top.uuid)
deeper = nested.create_subfolder("sdk-deeper")
out["created"] = [str(top.uuid), str(nested.uuid), str(deeper.uuid)]
fetched = user_client.get_storage_folder(top.uuid)
out["fetched"] = [fetched.name, fetched.description, fetched.client_metadata, fetched.parent_uuid]
out["nested_parent"] = str(nested.parent_uuid)
out["top_level"] = sorted(folder.name for folder in user_client.list_storage_folders())
out["search_top"] = [folder.name for folder in user_client.list_storage_folders(search="sdk-t")]
out["subfolders"] = [folder.name for folder in top.list_subfolders()]
out["find_folders"] = sorted(folder.name for folder in user_client.find_storage_folders(search="sdk-"))
top.update(name="sdk-top-renamed", description="renamed", client_metadata={"team": "nlp"})
again = user_client.get_storage_folder(top.uuid)
out["updated"] = [again.name, again.description, again.client_metadata]

data = user_client.get_storage_folder(IDS["folder"])
wanted = list(reversed(IDS["items"]))
out["bulk_order"] = [str(item.uuid) for item in user_client.get_storage_items(wanted)]
out["list_desc_paged"] = [item.name for item in data.list_items(order=FoldersSortBy.NAME, desc=True, page_size=2)]
out["list_search"] = [item.name for item in data.list_items(search="img-00")]
out["list_videos"] = [item.name for item in data.list_items(item_types=[StorageItemType.VIDEO])]
out["find_items"] = [item.name for item in data.find_items(search="vid", page_size=1)]
out["types"] = sorted({item.item_type.value for item in data.list_items()})
first = user_client.get_storage_item(IDS["items"][0])
out["item_fields"] = [first.name, first.item_type.value, first.width, first.height, first.file_size, first.mime_type]

first.move_to_folder(nested)
out["moved_parent"] = str(user_client.get_storage_item(IDS["items"][0]).parent_folder_uuid)
data.move_items_to_folder(deeper, [IDS["items"][1]])
user_client.get_storage_item(IDS["items"][2]).delete()
out["after_delete"] = sorted(item.name for item in data.list_items())
deeper.move_to_folder(top)
out["deeper_parent"] = str(user_client.get_storage_folder(deeper.uuid).parent_uuid)
nested.delete()
out["top_subfolders_after_delete"] = [folder.name for folder in top.list_subfolders()]
result(out)
