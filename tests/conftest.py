"""Shared fixtures: the servers started by tests/servers.py, and small builders."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    ssl_port: int
    user: str
    password: str
    ca_file: str
    root: str


@pytest.fixture(scope="session")
def imap_server() -> ImapServer:
    """The Dovecot server started for this run; tests that need it skip without it."""
    if "TEST_IMAP_PORT" not in os.environ:
        pytest.skip("no Dovecot server: run the suite with `make test`")
    return ImapServer(
        host=os.environ["TEST_IMAP_HOST"],
        port=int(os.environ["TEST_IMAP_PORT"]),
        ssl_port=int(os.environ["TEST_IMAP_SSL_PORT"]),
        user=os.environ["TEST_IMAP_USER"],
        password=os.environ["TEST_IMAP_PASSWORD"],
        ca_file=os.environ["TEST_IMAP_CA"],
        root=os.environ["TEST_IMAP_ROOT"],
    )


@pytest.fixture(scope="session")
def redis_url() -> str:
    if "TEST_REDIS_URL" not in os.environ:
        pytest.skip("no Redis server: run the suite with `make test`")
    return os.environ["TEST_REDIS_URL"]


@pytest.fixture
def requires_postgres() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: run the suite with `make test`")


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _plain_static_storage(settings) -> None:  # type: ignore[no-untyped-def]
    # Pages name static files; the hashed manifest exists only after collectstatic, which the
    # static-files tests run themselves.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
