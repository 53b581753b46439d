from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Dataset requests"

    def ready(self) -> None:
        from .conf import check_gateway_settings

        check_gateway_settings()
