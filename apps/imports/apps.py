from django.apps import AppConfig


class ImportsConfig(AppConfig):
    """The import pipeline: registration files, uploads and the jobs that register them.

    It sits above ``storage`` (the folders, items and the ImportJob rows it writes) and ``metadata``
    (whose rules every entry's metadata must pass), so neither of those imports it.
    """

    name = "apps.imports"
    label = "imports"
    verbose_name = "Imports"
