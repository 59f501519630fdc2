"""What the scripts here change from the seed: the domain, the key path and the ids (from the environment)."""

import json
import os

DOMAIN = os.environ["LOUPE_DOMAIN"]
SSH_PATH = os.environ["SSH_PATH"]
with open(os.environ["SCRIPT_IDS_FILE"], encoding="utf-8") as ids_file:
    IDS = json.load(ids_file)


def result(value) -> None:
    """The script's result for the test: one JSON line, last on stdout."""
    print(json.dumps(value, default=str))
