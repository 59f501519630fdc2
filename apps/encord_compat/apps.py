from django.apps import AppConfig


class EncordCompatConfig(AppConfig):
    """The Encord wire protocol: signed requests, camelCase objects, and views over Loupe's services."""

    name = "apps.encord_compat"
    label = "encord_compat"
    verbose_name = "Encord compatibility"
    default_auto_field = "django.db.models.BigAutoField"
