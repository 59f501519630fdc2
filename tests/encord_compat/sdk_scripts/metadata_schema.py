# Seed: the metadata schema through user_client.metadata_schema(), then the legacy calls.
# Changed: domain and key path. The steps come from the test ("steps": a list of [method, args]).
from encord import EncordUserClient
from loupe_script import DOMAIN, IDS, SSH_PATH, result

user_client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=SSH_PATH, domain=DOMAIN)


def snapshot(schema):
    out = {}
    for key in sorted(schema.keys()):
        entry = {"deleted": schema.is_key_deleted(key)}
        if not entry["deleted"]:
            entry["type"] = str(getattr(schema.get_key_type(key), "value", schema.get_key_type(key)))
            if entry["type"] == "embedding":
                entry["size"] = schema.get_embedding_size(key)
            if entry["type"] == "enum":
                entry["values"] = sorted(schema.get_enum_options(key))
        out[key] = entry
    return out


snapshots = []
for step in IDS["steps"]:
    schema = user_client.metadata_schema()
    for method, args in step:
        if method == "delete_key_hard":
            schema.delete_key(args[0], hard=True)
        elif method == "add_scalar":
            schema.add_scalar(args[0], data_type=args[1])
        elif method in ("add_enum", "add_enum_options"):
            getattr(schema, method)(args[0], values=args[1])
        elif method == "add_embedding":
            schema.add_embedding(args[0], size=args[1])
        else:
            getattr(schema, method)(*args)
    schema.save()
    snapshots.append(snapshot(user_client.metadata_schema()))

legacy = user_client.get_client_metadata_schema()
if IDS.get("legacy_set") is not None:
    user_client.set_client_metadata_schema_from_dict(IDS["legacy_set"])
result({"snapshots": snapshots, "legacy": {k: str(getattr(v, "value", v)) for k, v in (legacy or {}).items()},
        "legacy_after": {k: str(getattr(v, "value", v))
                         for k, v in (user_client.get_client_metadata_schema() or {}).items()}})
