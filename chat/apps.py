from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Live chat"

    def ready(self) -> None:
        from chat import checks  # noqa: F401 - registers the system checks
        from chat.processing import CHAT_PROVIDERS
        from integrations.inbound import register_processor

        for provider in CHAT_PROVIDERS:
            register_processor(f"webhook:{provider}", "chat.processing.process_chat_webhook_item")
            register_processor(f"record:{provider}", "chat.processing.process_chat_record_item")
