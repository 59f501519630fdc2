"""``manage.py bootstrap``: first-start setup (default organisation, first administrator)."""

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core.models import User
from apps.core.services import organisation_default_get_or_create


class Command(BaseCommand):
    help = "Create the default organisation and, when there is no user yet, an administrator."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="admin@loupe.local")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where Loupe will answer")

    @transaction.atomic
    def handle(self, *args, email, url, **options):
        org = organisation_default_get_or_create()
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password)
        self.stdout.write(self.style.SUCCESS(
            f"\nCreated the administrator of '{org.name}':\n"
            f"    email:    {email}\n    password: {password}\n"
            f"Log in at {url} and change the password in the admin ({url.rstrip('/')}/admin/).\n"
        ))
