"""Webhook URLs, included at /hooks/: one endpoint per connection, named by its token."""

from django.urls import path

from integrations.webhooks import receive_webhook

app_name = "integrations"

urlpatterns = [
    path("<slug:provider>/<str:token>", receive_webhook, name="webhook"),
]
