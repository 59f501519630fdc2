# folder.list_subfolders() (direct children) and folder.find_subfolders() (the whole subtree).
from encord import EncordUserClient
from loupe_script import DOMAIN, IDS, SSH_PATH, result

user_client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=SSH_PATH, domain=DOMAIN)
folder = user_client.get_storage_folder(IDS["folder"])
result({"direct": sorted(f.name for f in folder.list_subfolders()),
        "recursive": sorted(f.name for f in folder.find_subfolders())})
