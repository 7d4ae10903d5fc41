"""A body nested thousands deep must be rejected with a 4xx by every provider's endpoint."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from integrations.models import Connection, InboundItem

pytestmark = pytest.mark.django_db

DEEP_BODY = b'{"a":' * 5000 + b"1" + b"}" * 5000

CONNECTIONS = {
    "zendesk": {"signing_secret": "zendesk-secret", "api_token": "t", "email": "a@b.org"},
    "freshdesk": {"api_key": "k", "webhook_token": "freshdesk-secret"},
    "intercom": {"access_token": "t", "client_secret": "intercom-secret"},
    "crisp": {"identifier": "i", "key": "k", "signing_secret": "crisp-secret"},
}


@pytest.mark.parametrize("provider", sorted(CONNECTIONS))
def test_deep_json_gets_4xx(client: Client, provider: str) -> None:
    connection = Connection.objects.create(
        name=f"{provider}-deep",
        provider=provider,
        config={"base_url": "http://127.0.0.1:9", "api_base_url": "http://127.0.0.1:9"},
        credentials=CONNECTIONS[provider],
    )
    headers = {
        "HTTP_X_CRISP_REQUEST_TIMESTAMP": str(int(time.time() * 1000)),
        "HTTP_X_CRISP_SIGNATURE": "00",
        "HTTP_X_HUB_SIGNATURE": "sha1=00",
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": "AA==",
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": "2026-12-04T10:00:00Z",
    }

    response = client.post(
        f"/hooks/{provider}/{connection.webhook_token}",
        DEEP_BODY,
        content_type="application/json",
        **headers,
    )

    assert 400 <= response.status_code < 500
    assert not InboundItem.objects.exists()
