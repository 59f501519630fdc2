"""API tokens and SSH keys: stored hashed, shown once, revocable; operator commands."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from apps.core.models import ApiToken, PublicKey


def _openssh_public_key(comment="me@laptop") -> tuple[str, str]:
    key = Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    return f"{line} {comment}", raw


def test_token_is_stored_only_as_a_hash(api_for, transactional_db, org, make_user):
    user = make_user(org)
    api = api_for(user)
    response = api.post("/api/v1/tokens", json={"name": "ci"})
    assert response.status_code == 201
    plaintext = response.json()["token"]
    row = ApiToken.objects.get(name="ci")
    assert row.digest == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {row.prefix, row.digest, row.name}
    assert "token" not in api.get("/api/v1/tokens").json()[0]

    assert api.delete(f"/api/v1/tokens/{row.pk}").status_code == 204
    revoked = api_for(None)
    revoked.session.headers["Authorization"] = f"Bearer {plaintext}"
    assert revoked.get("/api/v1/folders").status_code == 401


def test_public_key_registration_over_api(api_for, transactional_db, org, make_user):
    api = api_for(make_user(org))
    line, raw = _openssh_public_key()
    response = api.post("/api/v1/keys", json={"openssh": line})
    assert response.status_code == 201
    assert response.json()["key_hex"] == raw
    assert response.json()["name"] == "me@laptop"
    again = api.post("/api/v1/keys", json={"openssh": line})
    assert again.status_code == 400
    assert again.json() == {"openssh": ["This key is already registered."]}


@pytest.mark.parametrize("text, message", [
    ("ssh-rsa AAAAB3NzaC1yc2E me", "Only Ed25519 keys are accepted (a line starting with 'ssh-ed25519 ')."),
    ("ssh-ed25519 not-base64!!", "Not a valid OpenSSH public key"),
    ("", "Paste the contents of your .pub file."),
])
def test_bad_public_keys_are_refused(db, org, make_user, text, message):
    from apps.core.errors import ServiceValidationError
    from apps.core.services import public_key_add

    with pytest.raises(ServiceValidationError) as caught:
        public_key_add(user=make_user(org), openssh=text)
    assert caught.value.message_dict["openssh"][0].startswith(message)
    assert PublicKey.objects.count() == 0


def test_create_api_token_command_prints_a_working_token(db, org, make_user, capsys):
    from apps.core.selectors import api_token_user

    user = make_user(org, email="ops@example.com")
    call_command("create_api_token", "ops@example.com")
    token = capsys.readouterr().out.strip()
    assert token.startswith("loupe_")
    assert api_token_user(plaintext=token) == user


def test_add_public_key_command(db, org, make_user, tmp_path, capsys):
    make_user(org, email="ops@example.com")
    line, raw = _openssh_public_key()
    pub = tmp_path / "id_ed25519.pub"
    pub.write_text(line + "\n")
    call_command("add_public_key", "ops@example.com", str(pub))
    assert f"keyid {raw}" in capsys.readouterr().out
    assert PublicKey.objects.get().key_hex == raw


def test_commands_fail_clearly_on_bad_input(db, org, make_user, tmp_path):
    make_user(org, email="ops@example.com")
    with pytest.raises(CommandError, match="No user with email 'nobody@example.com'"):
        call_command("create_api_token", "nobody@example.com")
    bad = tmp_path / "bad.pub"
    bad.write_text("ssh-rsa AAAA nope")
    with pytest.raises(CommandError, match="Only Ed25519 keys are accepted"):
        call_command("add_public_key", "ops@example.com", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("add_public_key", "ops@example.com", str(tmp_path / "missing.pub"))


def test_command_exit_status_is_nonzero_on_unknown_email(transactional_db):
    proc = subprocess.run(
        [sys.executable, "manage.py", "create_api_token", "nobody@example.com", "--settings", "config.settings.test"],
        capture_output=True, text=True, env=_env_for_subprocess(),
    )
    assert proc.returncode == 1
    assert "CommandError: No user with email 'nobody@example.com'." in proc.stderr


def _env_for_subprocess() -> dict:
    import os

    from tests.conftest import _database_url

    return {**os.environ, "DATABASE_URL": _database_url()}


def test_superuser_noinput_is_admin_of_default_organisation(transactional_db):
    import os

    from apps.core.models import OrganisationMember, OrganisationRole

    env = _env_for_subprocess() | {
        "DJANGO_SUPERUSER_EMAIL": "root@example.com", "DJANGO_SUPERUSER_PASSWORD": "s3cret-pass-77",
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--settings", "config.settings.test"],
        capture_output=True, text=True, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    member = OrganisationMember.objects.select_related("organisation").get(user__email="root@example.com")
    assert (member.role, member.organisation.is_default) == (OrganisationRole.ADMIN, True)
    assert os.environ.get("DJANGO_SUPERUSER_EMAIL") is None
