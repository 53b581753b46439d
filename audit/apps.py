from typing import Any

from django.apps import AppConfig
from django.core import checks


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        checks.register(_audit_settings_check)


def _audit_settings_check(**kwargs: Any) -> list[checks.CheckMessage]:
    """Refuse to start with unknown ``settings.AUDIT`` keys or a retention below six months."""
    from django.core.exceptions import ImproperlyConfigured

    from audit.conf import DEFAULTS, audit_setting

    try:
        for name in DEFAULTS:
            audit_setting(name)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="audit.E001")]
    return []
