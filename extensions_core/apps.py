"""App configuration: wiring only (system checks, the admin site's class); never queries the database."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ExtensionsCoreConfig(AppConfig):
    name = "extensions_core"
    verbose_name = "Extensions"
    default = True
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from extensions_core import checks  # noqa: F401 - registers the system checks
        from extensions_core.log_context import install_record_factory
        from extensions_core.log_context import request_finished as log_request_finished
        from extensions_core.permissions import connect_access_signals

        connect_access_signals()
        install_record_factory()
        request_finished.connect(log_request_finished, dispatch_uid="karen-log-context-request-finished")


class ControlRoomAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the control room as its site (the dashboard is the admin index)."""

    default = False
    default_site = "extensions_core.admin_site.ControlRoomSite"
