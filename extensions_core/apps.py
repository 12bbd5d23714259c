"""App configuration: wiring only (system checks); never queries the database."""

from django.apps import AppConfig


class ExtensionsCoreConfig(AppConfig):
    name = "extensions_core"
    verbose_name = "Extensions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from extensions_core import checks  # noqa: F401 - registers the system checks
        from extensions_core.permissions import connect_access_signals

        connect_access_signals()
