"""``manage.py create_api_token <email> [--name N]``: print a new API token for a user."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ServiceValidationError
from apps.core.models import User
from apps.core.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for the user with this email and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="created by manage.py")

    def handle(self, *args, email, name, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        if not user.is_active:
            raise CommandError(f"User {email!r} is deactivated.")
        try:
            _, plaintext = api_token_create(user=user, name=name)
        except ServiceValidationError as exc:
            raise CommandError(str(exc.message_dict)) from exc
        self.stdout.write(plaintext)
