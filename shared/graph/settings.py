"""How Riposte reaches Microsoft Graph: base URL and credential kind, from the environment.

The same code talks to Microsoft or to the local sandbox; only these settings differ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, field_validator, model_validator

DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class GraphAuthMode(StrEnum):
    # Managed identity as a federated credential of the multi-tenant app registration (no secret anywhere).
    FEDERATED_MANAGED_IDENTITY = "federated_managed_identity"
    CERTIFICATE = "certificate"
    # Unsigned tokens for the loopback sandbox only.
    LOCAL_TOKEN = "local_token"  # noqa: S105 - a mode name


def url_host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_loopback_url(url: str) -> bool:
    return url_host(url) in LOOPBACK_HOSTS


def resource_scope(base_url: str, public_resource: str) -> str:
    """``https://<host>/.default`` for a REST API's host; a loopback sandbox expects the public resource's
    audience (Exchange Online, Azure Resource Manager)."""
    if is_loopback_url(base_url):
        return f"{public_resource}/.default"
    return f"https://{url_host(base_url)}/.default"


class GraphSettings(BaseModel, frozen=True):
    base_url: str = DEFAULT_GRAPH_BASE_URL
    auth_mode: GraphAuthMode = GraphAuthMode.FEDERATED_MANAGED_IDENTITY
    client_id: str | None = None  # the app registration (multi-tenant) Riposte acts as
    managed_identity_client_id: str | None = None  # user-assigned MI; None = system-assigned
    certificate_path: str | None = None

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise ValueError(f"GRAPH_BASE_URL must be an absolute http(s) URL, got {value!r}")
        if parts.scheme == "http" and parts.hostname.lower() not in LOOPBACK_HOSTS:
            raise ValueError("GRAPH_BASE_URL may use plain http only for a loopback host")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _mode_has_what_it_needs(self) -> GraphSettings:
        if self.auth_mode is not GraphAuthMode.LOCAL_TOKEN and not self.client_id:
            raise ValueError(f"GRAPH_CLIENT_ID is required for GRAPH_AUTH_MODE={self.auth_mode.value}")
        if self.auth_mode is GraphAuthMode.CERTIFICATE and not self.certificate_path:
            raise ValueError("GRAPH_CERTIFICATE_PATH is required for GRAPH_AUTH_MODE=certificate")
        return self

    @property
    def host(self) -> str:
        return url_host(self.base_url)

    @property
    def scope(self) -> str:
        """``https://<graph host>/.default``; the sandbox expects the public Graph audience."""
        if is_loopback_url(self.base_url):
            return "https://graph.microsoft.com/.default"
        return f"https://{self.host}/.default"


def load_graph_settings(env: Mapping[str, str] | None = None) -> GraphSettings:
    env = os.environ if env is None else env
    return GraphSettings(
        base_url=env.get("GRAPH_BASE_URL") or DEFAULT_GRAPH_BASE_URL,
        # Validated by pydantic, whose error lists the allowed modes.
        auth_mode=env.get("GRAPH_AUTH_MODE") or GraphAuthMode.FEDERATED_MANAGED_IDENTITY,
        client_id=env.get("GRAPH_CLIENT_ID") or None,
        managed_identity_client_id=env.get("GRAPH_MANAGED_IDENTITY_CLIENT_ID") or None,
        certificate_path=env.get("GRAPH_CERTIFICATE_PATH") or None,
    )
