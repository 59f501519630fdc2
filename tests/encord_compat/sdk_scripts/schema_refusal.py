# A value that violates the schema: the SDK must raise with the server's message, and nothing changes.
from encord import EncordUserClient
from encord.exceptions import InvalidArgumentsError
from encord.http.bundle import Bundle
from loupe_script import DOMAIN, IDS, SSH_PATH, result

user_client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=SSH_PATH, domain=DOMAIN)

messages = []
item = user_client.get_storage_item(IDS["items"][0])
try:
    item.update(client_metadata={"score": "high"})
except InvalidArgumentsError as exc:
    messages.append(str(exc))

try:
    with Bundle() as bundle:
        for n, uuid in enumerate(IDS["items"]):
            storage_item = user_client.get_storage_item(uuid)
            storage_item.update(client_metadata={"score": 0.5 if n else "not a number"}, bundle=bundle)
except InvalidArgumentsError as exc:
    messages.append(str(exc))
result(messages)
