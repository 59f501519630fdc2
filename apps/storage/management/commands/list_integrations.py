"""``manage.py list_integrations [--organisation NAME]``: the ids to pass to ``import_json --integration``."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.models import Organisation
from apps.storage.services.integrations import integration_list

BAD_ARGUMENTS = 2


class Command(BaseCommand):
    help = "Print one line per storage integration of an organisation: '<uuid> <name>'."

    def add_arguments(self, parser):
        parser.add_argument("--organisation", help="organisation name; needed when there are several")

    def handle(self, *args, organisation=None, **options):
        for integration in integration_list(organisation=_organisation(organisation)):
            self.stdout.write(f"{integration.pk} {integration.name}")


def _organisation(name: str | None) -> Organisation:
    organisations = Organisation.objects.order_by("name")
    if name:
        found = organisations.filter(name=name).first()
        if found is None:
            raise CommandError(f"No organisation named {name!r}.", returncode=BAD_ARGUMENTS)
        return found
    names = list(organisations.values_list("name", flat=True)[:20])
    if len(names) != 1:
        raise CommandError(
            "There is no organisation yet." if not names else
            f"There are several organisations; name one with --organisation ({', '.join(names)}).",
            returncode=BAD_ARGUMENTS,
        )
    return organisations.get()
