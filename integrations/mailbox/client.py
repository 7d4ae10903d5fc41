"""The IMAP side of the help@ mailbox: connection settings, TLS, login and the session.

Settings come from `settings.MAILBOX_*`. A `Connection(provider="mailbox")` row overrides any
of them with the keys of its `config` (host, port, security, user, folder, processed_folder,
flag_processed, verify_tls, ca_file, batch_size). Its `credentials` contain password,
oauth2_token, or oauth2_refresh_token with oauth2_token_url, oauth2_client_id and
oauth2_client_secret.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from integrations.models import Connection

logger = logging.getLogger(__name__)

SECURITY_MODES = ("ssl", "starttls", "none")
# Seconds to wait for the server to accept the connection, then for the reply to one command.
CONNECT_TIMEOUT = 20.0
COMMAND_TIMEOUT = 120.0
# A refreshed access token is renewed this many seconds before its expires_in runs out.
TOKEN_EXPIRY_MARGIN = 60


class MailboxError(Exception):
    """The mailbox could not be reached, logged in to or read.

    `retryable` is False when only a change of configuration can help (wrong password, TLS
    certificate rejected, plain text to a remote host), True for outages and timeouts.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class MailboxConfig:
    host: str
    port: int
    security: str
    user: str
    folder: str = "INBOX"
    processed_folder: str = ""
    flag_processed: bool = False
    verify_tls: bool = True
    ca_file: str = ""
    batch_size: int = 200
    password: str = field(default="", repr=False)
    oauth2_token: str = field(default="", repr=False)
    oauth2_refresh: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        """The mailbox as it appears in logs: user, host, port and folder, never a secret."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


def config_for_connection(connection: Connection | None) -> MailboxConfig:
    """Build the mailbox settings: the connection's config and credentials over MAILBOX_*."""
    config: dict[str, Any] = dict(connection.config) if connection is not None else {}
    secrets: dict[str, Any] = dict(connection.credentials) if connection is not None else {}
    refresh_keys = (
        "oauth2_refresh_token",
        "oauth2_token_url",
        "oauth2_client_id",
        "oauth2_client_secret",
    )
    security = str(config.get("security", settings.MAILBOX_SECURITY))
    if security not in SECURITY_MODES:
        raise MailboxError(
            f"Mailbox security {security!r} is invalid; use one of {', '.join(SECURITY_MODES)}.",
            retryable=False,
        )
    return MailboxConfig(
        host=str(config.get("host", settings.MAILBOX_HOST)),
        port=int(config.get("port", settings.MAILBOX_PORT)),
        security=security,
        user=str(config.get("user", settings.MAILBOX_USER)),
        folder=str(config.get("folder", settings.MAILBOX_FOLDER)),
        processed_folder=str(config.get("processed_folder", settings.MAILBOX_PROCESSED_FOLDER)),
        flag_processed=bool(config.get("flag_processed", settings.MAILBOX_FLAG_PROCESSED)),
        verify_tls=bool(config.get("verify_tls", settings.MAILBOX_VERIFY_TLS)),
        ca_file=str(config.get("ca_file", settings.MAILBOX_CA_FILE)),
        batch_size=max(1, int(config.get("batch_size", settings.MAILBOX_BATCH_SIZE))),
        password=str(secrets.get("password", settings.MAILBOX_PASSWORD)),
        oauth2_token=str(secrets.get("oauth2_token", settings.MAILBOX_OAUTH2_TOKEN)),
        oauth2_refresh={key: str(secrets[key]) for key in refresh_keys if secrets.get(key)},
    )


def ssl_context(config: MailboxConfig) -> ssl.SSLContext:
    """Return the TLS context for the mailbox: system CAs plus `ca_file`, or no checks at all.

    With verify_tls off the certificate and host name are not checked, which only makes sense
    for a server on a private network with a self-signed certificate.
    """
    context = ssl.create_default_context()
    if config.ca_file:
        try:
            context.load_verify_locations(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailboxError(
                f"Mailbox CA file {config.ca_file!r} could not be loaded: {exc}", retryable=False
            ) from exc
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connect(config: MailboxConfig) -> IMAPClient:
    if not config.host:
        raise MailboxError(
            "No mailbox host is configured; set MAILBOX_HOST or the connection's host.",
            retryable=False,
        )
    if config.security == "none" and not _is_loopback(config.host):
        raise MailboxError(
            f"Mailbox security 'none' would send the password in clear text to {config.host}; "
            "it is allowed only for a loopback host. Use ssl or starttls.",
            retryable=False,
        )
    client = IMAPClient(
        config.host,
        port=config.port,
        ssl=config.security == "ssl",
        ssl_context=ssl_context(config) if config.security == "ssl" else None,
        timeout=CONNECT_TIMEOUT,
    )
    if config.security == "starttls":
        if b"STARTTLS" not in client.capabilities():
            client.shutdown()
            raise MailboxError(
                f"{config.host}:{config.port} does not offer STARTTLS; use security ssl "
                "(usually port 993) instead.",
                retryable=False,
            )
        client.starttls(ssl_context(config))
    client.socket().settimeout(COMMAND_TIMEOUT)
    return client


def _login(client: IMAPClient, config: MailboxConfig) -> str:
    """Log in with an access token when one is configured, else with the password."""
    token = config.oauth2_token or (oauth2_access_token(config) if config.oauth2_refresh else "")
    if token:
        client.oauth2_login(config.user, token)
        return "XOAUTH2"
    if not config.password:
        raise MailboxError(
            f"No password or OAuth2 token is configured for mailbox user {config.user!r}.",
            retryable=False,
        )
    client.login(config.user, config.password)
    return "password"


@contextlib.contextmanager
def open_mailbox(config: MailboxConfig) -> Iterator[IMAPClient]:
    """Connect, secure and log in; yield the client and log out afterwards.

    Raises MailboxError for every failure to connect, negotiate TLS or log in, and for IMAP
    and socket errors raised while the caller uses the session.
    """
    client: IMAPClient | None = None
    try:
        client = _connect(config)
        method = _login(client, config)
        logger.info("mailbox %s: logged in (%s)", config.label, method)
        yield client
    except LoginError as exc:
        raise MailboxError(
            f"Login to mailbox {config.label} failed: {_text(exc)}. Check the user and the "
            "password or access token.",
            retryable=False,
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        raise MailboxError(
            f"TLS certificate of {config.host}:{config.port} was rejected: {exc.verify_message}. "
            "Set MAILBOX_CA_FILE to the CA that signed it.",
            retryable=False,
        ) from exc
    except (OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
        # OSError covers refused connections, timeouts and TLS handshake failures.
        raise MailboxError(
            f"Mailbox {config.label} failed: {type(exc).__name__}: {_text(exc)}", retryable=True
        ) from exc
    finally:
        if client is not None:
            _logout(client)


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except (OSError, IMAPClientError, imaplib.IMAP4.error):
        # The session is over either way; the socket is closed by shutdown.
        with contextlib.suppress(OSError, IMAPClientError, imaplib.IMAP4.error):
            client.shutdown()


def _text(exc: BaseException) -> str:
    value = str(exc)
    if value.startswith("b'") and value.endswith("'"):
        value = value[2:-1]
    return value


# ---------------------------------------------------------------- OAuth2 access tokens

_token_cache: dict[tuple[str, str, str], tuple[str, float]] = {}


def oauth2_access_token(config: MailboxConfig) -> str:
    """Exchange the stored refresh token for an access token (RFC 6749, section 6).

    Tokens are cached in the process until shortly before they expire.
    """
    refresh = config.oauth2_refresh
    missing = [
        key
        for key in ("oauth2_refresh_token", "oauth2_token_url", "oauth2_client_id")
        if not refresh.get(key)
    ]
    if missing:
        raise MailboxError(
            f"OAuth2 refresh for mailbox {config.label} needs {', '.join(missing)} in the "
            "connection's credentials.",
            retryable=False,
        )
    cache_key = (
        refresh["oauth2_token_url"],
        refresh["oauth2_client_id"],
        refresh["oauth2_refresh_token"],
    )
    cached = _token_cache.get(cache_key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]

    try:
        response = requests.post(
            refresh["oauth2_token_url"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh["oauth2_refresh_token"],
                "client_id": refresh["oauth2_client_id"],
                "client_secret": refresh.get("oauth2_client_secret", ""),
            },
            timeout=CONNECT_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise MailboxError(f"OAuth2 token request failed: {exc}", retryable=True) from exc
    if response.status_code >= 400:
        logger.debug(
            "OAuth2 token endpoint returned HTTP %s: %s", response.status_code, response.text[:500]
        )
        raise MailboxError(
            f"OAuth2 token endpoint rejected the refresh token with HTTP {response.status_code}; "
            "authorise the mailbox again.",
            retryable=response.status_code >= 500 or response.status_code == 429,
        )
    try:
        body = response.json()
        token = str(body["access_token"])
        lifetime = float(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError) as exc:
        raise MailboxError(
            "OAuth2 token endpoint returned no access_token; try again later.", retryable=True
        ) from exc
    _token_cache[cache_key] = (token, time.monotonic() + max(0.0, lifetime - TOKEN_EXPIRY_MARGIN))
    return token
