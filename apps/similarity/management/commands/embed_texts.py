"""``manage.py embed_texts [--organisation UUID]``: give every text and PDF item its built-in ``text`` embedding."""

import uuid

from django.core.management.base import BaseCommand, CommandError

from apps.similarity.text_items import items_text_embed_backfill


class Command(BaseCommand):
    help = ("Enqueue the built-in text embedding of ready text and PDF items that have none yet "
            "(imported before it existed, or registered with their media facts); a worker does the work.")

    def add_arguments(self, parser):
        parser.add_argument("--organisation", help="only this organisation (uuid); all by default")

    def handle(self, *args, organisation=None, **options):
        try:
            organisation_id = uuid.UUID(organisation) if organisation else None
        except ValueError as exc:
            raise CommandError(f"--organisation {organisation!r} is not a uuid.") from exc
        count = items_text_embed_backfill(organisation_id=organisation_id)
        self.stdout.write(f"Enqueued {count} items for the built-in text embedding.")
