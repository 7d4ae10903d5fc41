"""Connecting to the real Dovecot server: TLS, STARTTLS, passwords and XOAUTH2 tokens."""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from integrations.mailbox import client as mailbox_client
from integrations.mailbox.client import MailboxConfig, MailboxError, open_mailbox
from integrations.mailbox.sync import sync_mailbox
from integrations.models import Connection
from integrations.tasks import sync_mailbox as sync_mailbox_task

pytestmark = pytest.mark.imap

GOOD_TOKEN = "ya29.good-access-token"


def config(imap_server, **overrides: object) -> MailboxConfig:
    values: dict[str, object] = {
        "host": imap_server.host,
        "port": imap_server.ssl_port,
        "security": "ssl",
        "user": imap_server.user,
        "password": imap_server.password,
        "ca_file": imap_server.ca_file,
    }
    values.update(overrides)
    return MailboxConfig(**values)  # type: ignore[arg-type]


def inbox_uidvalidity(cfg: MailboxConfig) -> int:
    with open_mailbox(cfg) as client:
        return int(client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"])


# ---------------------------------------------------------------- TLS


def test_tls_with_ca_file_logs_in(imap_server) -> None:
    assert inbox_uidvalidity(config(imap_server)) > 0


def test_tls_without_ca_rejected(imap_server) -> None:
    with pytest.raises(MailboxError) as caught:
        inbox_uidvalidity(config(imap_server, ca_file=""))

    assert caught.value.retryable is False
    assert "certificate" in str(caught.value)
    assert "MAILBOX_CA_FILE" in str(caught.value)


def test_tls_unverified_when_disabled(imap_server) -> None:
    assert inbox_uidvalidity(config(imap_server, ca_file="", verify_tls=False)) > 0


def test_starttls_on_plain_port(imap_server) -> None:
    cfg = config(imap_server, port=imap_server.port, security="starttls")

    with open_mailbox(cfg) as client:
        assert isinstance(client.socket(), ssl.SSLSocket)
        assert client.folder_exists("INBOX")


def test_plain_text_on_loopback(imap_server) -> None:
    assert inbox_uidvalidity(config(imap_server, port=imap_server.port, security="none")) > 0


def test_plain_text_to_remote_host_rejected() -> None:
    # Rejected before any connection is made, so no traffic leaves the machine.
    cfg = MailboxConfig(host="imap.example.org", port=143, security="none", user="u", password="p")

    with pytest.raises(MailboxError) as caught, open_mailbox(cfg):
        pass

    assert "clear text" in str(caught.value)
    assert caught.value.retryable is False


def test_closed_port_is_retryable(imap_server) -> None:
    from tests.servers import free_port

    cfg = config(imap_server, port=free_port())

    with pytest.raises(MailboxError) as caught, open_mailbox(cfg):
        pass

    assert caught.value.retryable is True


# ---------------------------------------------------------------- passwords


@pytest.mark.django_db
def test_wrong_password_recorded_not_raised(imap_server, caplog) -> None:
    connection = Connection.objects.create(
        name="wrong-password",
        provider=Connection.Provider.MAILBOX,
        config={
            "host": imap_server.host,
            "port": imap_server.ssl_port,
            "security": "ssl",
            "ca_file": imap_server.ca_file,
            "user": imap_server.user,
        },
        credentials={"password": "not-the-password"},
    )

    with caplog.at_level(logging.ERROR, logger="integrations.mailbox.sync"):
        summary = sync_mailbox(connection)

    assert "Login to mailbox" in summary.error
    assert "AUTHENTICATIONFAILED" in summary.error
    connection.refresh_from_db()
    assert "Check the user and the password" in connection.last_error
    assert connection.last_error_at is not None
    assert connection.last_success_at is None
    assert connection.cursor == {}
    assert any("sync failed" in record.getMessage() for record in caplog.records)
    assert all("not-the-password" not in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_beat_task_survives_wrong_password(imap_server, settings) -> None:
    settings.MAILBOX_HOST = imap_server.host
    settings.MAILBOX_PORT = imap_server.ssl_port
    settings.MAILBOX_SECURITY = "ssl"
    settings.MAILBOX_CA_FILE = imap_server.ca_file
    settings.MAILBOX_USER = imap_server.user
    settings.MAILBOX_PASSWORD = "not-the-password"

    result = sync_mailbox_task.apply()

    assert result.successful()
    assert "Login to mailbox" in Connection.objects.get(name="help-mailbox").last_error


# ---------------------------------------------------------------- XOAUTH2


@pytest.fixture
def oauth2_server(imap_server) -> Iterator[HTTPServer]:
    """Serve the token introspection endpoint Dovecot calls, on TEST_IMAP_OAUTH2_PORT."""
    server = HTTPServer(host="127.0.0.1", port=int(os.environ["TEST_IMAP_OAUTH2_PORT"]))
    server.start()
    server.expect_request("/introspect", method="POST").respond_with_handler(
        lambda request: introspect(request, imap_server.user)
    )
    yield server
    server.clear()
    server.stop()


def introspect(request: Request, user: str) -> Response:
    """Respond like an RFC 7662 introspection endpoint with one valid token."""
    token = parse_qs(request.get_data(as_text=True)).get("token", [""])[0]
    body = {"active": True, "username": user} if token == GOOD_TOKEN else {"active": False}
    return Response(json.dumps(body), content_type="application/json")


def test_xoauth2_token_accepted_by_dovecot(imap_server, oauth2_server) -> None:
    cfg = config(imap_server, password="", oauth2_token=GOOD_TOKEN)

    assert inbox_uidvalidity(cfg) > 0

    sent = [parse_qs(request.get_data(as_text=True)) for request, _ in oauth2_server.log]
    assert sent[-1]["token"] == [GOOD_TOKEN]


def test_xoauth2_bad_token_rejected(imap_server, oauth2_server) -> None:
    cfg = config(imap_server, password="", oauth2_token="expired-token")

    with pytest.raises(MailboxError) as caught:
        inbox_uidvalidity(cfg)

    assert caught.value.retryable is False
    assert "Login to mailbox" in str(caught.value)


def test_refresh_token_exchanged_for_access(imap_server, oauth2_server) -> None:
    mailbox_client._token_cache.clear()
    oauth2_server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": GOOD_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
    )
    cfg = config(
        imap_server,
        password="",
        oauth2_refresh={
            "oauth2_refresh_token": "1//refresh",
            "oauth2_token_url": oauth2_server.url_for("/token"),
            "oauth2_client_id": "hub-client",
            "oauth2_client_secret": "hub-secret",
        },
    )

    assert inbox_uidvalidity(cfg) > 0
    assert inbox_uidvalidity(cfg) > 0

    token_requests = [request for request, _ in oauth2_server.log if request.path == "/token"]
    assert len(token_requests) == 1  # the second login reuses the cached access token
    form = parse_qs(token_requests[0].get_data(as_text=True))
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["1//refresh"]
    assert form["client_id"] == ["hub-client"]


def test_rejected_refresh_token_not_retryable(imap_server, oauth2_server) -> None:
    mailbox_client._token_cache.clear()
    oauth2_server.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_grant"}, status=400
    )
    cfg = config(
        imap_server,
        password="",
        oauth2_refresh={
            "oauth2_refresh_token": "1//revoked",
            "oauth2_token_url": oauth2_server.url_for("/token"),
            "oauth2_client_id": "hub-client",
        },
    )

    with pytest.raises(MailboxError) as caught:
        inbox_uidvalidity(cfg)

    assert "HTTP 400" in str(caught.value)
    assert caught.value.retryable is False
