"""Freshdesk (API v2): automation-rule webhooks and the REST API."""
