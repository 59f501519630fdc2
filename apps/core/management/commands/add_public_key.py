"""``manage.py add_public_key <email> <path-to-.pub>``: register an Ed25519 key for signed requests."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ServiceValidationError
from apps.core.models import User
from apps.core.services import public_key_add


class Command(BaseCommand):
    help = "Register an OpenSSH Ed25519 public key (.pub file) for the user with this email."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("path")
        parser.add_argument("--name", default="")

    def handle(self, *args, email, path, name, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        try:
            key = public_key_add(user=user, openssh=text, name=name)
        except ServiceValidationError as exc:
            messages = "; ".join(m for msgs in exc.message_dict.values() for m in msgs)
            raise CommandError(messages) from exc
        self.stdout.write(f"Registered {key.fingerprint} for {user.email} (keyid {key.key_hex}).")
