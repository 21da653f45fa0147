from django.apps import AppConfig


class ElicitationConfig(AppConfig):
    name = "elicitation"
    verbose_name = "Elicitation"

    def ready(self) -> None:
        from elicitation import signals  # noqa: F401 (connects the receivers)
