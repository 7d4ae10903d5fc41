"""Explicit table from provider name to its adapter, imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from integrations.base import DeskAdapter
from integrations.models import Connection

# Provider name (Connection.Provider value) to the dotted path of its DeskAdapter subclass.
ADAPTERS: dict[str, str] = {
    "zendesk": "integrations.zendesk.adapter.ZendeskAdapter",
    "freshdesk": "integrations.freshdesk.adapter.FreshdeskAdapter",
    "intercom": "integrations.intercom.adapter.IntercomAdapter",
    "crisp": "integrations.crisp.adapter.CrispAdapter",
    # The mailbox is polled over IMAP by integrations.mailbox; an adapter may join here later.
    "mailbox": "integrations.mailbox.adapter.MailboxAdapter",
}

_loaded: dict[str, type[DeskAdapter]] = {}


class UnknownProvider(LookupError):
    """No adapter is listed for the provider, or its module is not installed yet."""


def adapter_class(provider: str) -> type[DeskAdapter]:
    """Return the adapter class for a provider; raises UnknownProvider."""
    cached = _loaded.get(provider)
    if cached is not None:
        return cached
    path = ADAPTERS.get(provider)
    if path is None:
        raise UnknownProvider(f"No adapter is listed for provider {provider!r}.")
    module_name, _, attribute = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UnknownProvider(f"The {provider} adapter ({path}) is not available.") from exc
        raise
    cls: type[DeskAdapter] = getattr(module, attribute)
    _loaded[provider] = cls
    return cls


def adapter_for(
    connection: Connection, *, sleep: Callable[[float], None] | None = None, **kwargs: Any
) -> DeskAdapter:
    """Build the adapter for a connection; raises UnknownProvider."""
    return adapter_class(connection.provider)(connection, sleep=sleep, **kwargs)


def available_providers() -> list[str]:
    """Providers whose adapter module can be imported now."""
    found = []
    for provider in ADAPTERS:
        try:
            adapter_class(provider)
        except UnknownProvider:
            continue
        found.append(provider)
    return found
