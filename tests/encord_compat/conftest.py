"""The real ``encord`` SDK against a live Loupe test server, with keys generated in the test.

Each seed script in ``sdk_scripts/`` runs in a subprocess under one of two SDK releases: the newest
(a test dependency of Loupe, in the project venv) and 0.1.150 (the oldest that speaks this protocol),
installed once into ``var/sdk-venvs/`` from PyPI. Scripts read the domain, key path and ids from the
environment and print a JSON result on their last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apps.core.models import OrganisationRole
from apps.core.services import public_key_add
from apps.storage.services.folders import folder_create

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = Path(__file__).resolve().parent / "sdk_scripts"
OLD_SDK = "0.1.150"
SDK_VERSIONS = ("newest", OLD_SDK)
SCRIPT_TIMEOUT_S = 180


def _old_sdk_python() -> str:
    venv = ROOT / "var" / "sdk-venvs" / f"encord-{OLD_SDK}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"encord=={OLD_SDK}"], check=True)
        marker.touch()
    return str(python)


@pytest.fixture(scope="session")
def sdk_pythons():
    return {"newest": sys.executable, OLD_SDK: _old_sdk_python()}


@pytest.fixture(params=SDK_VERSIONS)
def sdk_version(request):
    return request.param


def make_key(tmp_path: Path, name: str = "sdk-key") -> tuple[Path, str, Ed25519PrivateKey]:
    """An Ed25519 key pair: the private key file (OpenSSH) and the public line to register."""
    private = Ed25519PrivateKey.generate()
    path = tmp_path / name
    path.write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    public_line = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return path, public_line, private


@pytest.fixture
def alice(transactional_db, org, make_user):
    return make_user(org, email="alice@example.com", role=OrganisationRole.ADMIN)


@pytest.fixture
def alice_key(alice, tmp_path):
    path, public_line, private = make_key(tmp_path)
    public_key_add(user=alice, openssh=public_line + " alice@laptop")
    return path, private


@pytest.fixture
def folder(alice, org):
    return folder_create(user=alice, name="data", organisation=org)


@pytest.fixture
def run_sdk(live_server, sdk_pythons, alice_key, tmp_path):
    """``run_sdk(version, "script.py", **ids)`` → the script's JSON result (its last stdout line)."""

    def run(version: str, script: str, *, key_path: Path | None = None, **ids):
        ids_file = tmp_path / "script-ids.json"  # a file: a large registration would not fit in the environment
        ids_file.write_text(json.dumps(ids, default=str))
        env = os.environ | {
            "LOUPE_DOMAIN": live_server.url, "SSH_PATH": str(key_path or alice_key[0]),
            "SCRIPT_IDS_FILE": str(ids_file), "PYTHONPATH": str(SCRIPTS),
        }
        done = subprocess.run([sdk_pythons[version], str(SCRIPTS / script)], env=env, capture_output=True,
                              text=True, timeout=SCRIPT_TIMEOUT_S)
        if done.returncode != 0:
            raise AssertionError(f"{script} under encord {version} failed:\n{done.stdout}\n{done.stderr}")
        lines = done.stdout.strip().splitlines()
        return json.loads(lines[-1]) if lines else None

    return run
