"""Zendesk Support: webhooks (trigger and event-subscription bodies) and the REST API."""
