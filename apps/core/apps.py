from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Accounts and access"

    def ready(self) -> None:
        from apps.core import schema  # noqa: F401  (registers the OpenAPI auth extension)
