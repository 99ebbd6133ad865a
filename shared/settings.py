"""App settings, read once from the environment (App Settings in Azure, local.settings.json locally).

Every setting the code reads is named here, so the Bicep template and the docs can be checked
against one list; code gets them from this object (a step through `StepDependencies.settings`), never from
the environment. The exceptions, each a seam of its own (tests/unit/test_one_settings.py): secrets
(shared/secrets.py, and the ingestion secrets in shared/ingest_auth.py), Graph's connection
(shared/graph/settings.py) and the HTTP libraries' proxy variables (shared/store/async_tables.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
from enum import StrEnum
from functools import lru_cache

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from shared.notifications.destination import check_event_grid, is_event_grid

DEFAULT_TASK_HUB = "RiposteHub"
DEFAULT_EXCHANGE_BASE_URL = "https://outlook.office365.com"
DEFAULT_DEFENDER_BASE_URL = "https://api.securitycenter.microsoft.com"
DEFAULT_ARM_BASE_URL = "https://management.azure.com"
# An allow-list entry: a host name, an IPv4 address, `localhost`, or `*.` and a domain of two labels or more.
_ALLOWED_HOST = re.compile(r"^(\*\.[a-z0-9-]+(\.[a-z0-9-]+)+|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$")
_HOST_LIST_SETTINGS = {"http_request_hosts": "RIPOSTE_HTTP_REQUEST_HOSTS",
                       "outbound_private_hosts": "RIPOSTE_OUTBOUND_PRIVATE_HOSTS"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ArmAuthMode(StrEnum):
    """How Riposte authenticates to Azure Resource Manager (Sentinel write-back, shared/arm/)."""

    MANAGED_IDENTITY = "managed_identity"  # the app's own (user-assigned) managed identity, in Azure
    LOCAL_TOKEN = "local_token"  # noqa: S105 - a mode name: unsigned tokens, for the loopback sandbox only


class AppSettings(BaseModel, frozen=True):
    environment: Environment = Environment.PRODUCTION
    # Connection string (local, Azurite) or absent when identity-based settings are used in Azure.
    storage_connection_string: str | None = None
    # Identity-based storage: https://<account>.table.core.windows.net (AzureWebJobsStorage__tableServiceUri).
    table_service_uri: str | None = None
    # The user-assigned managed identity that reaches storage (AzureWebJobsStorage__clientId).
    storage_client_id: str | None = None
    task_hub: str = DEFAULT_TASK_HUB
    table_prefix: str = Field(default="riposte", pattern=r"^[A-Za-z][A-Za-z0-9]{0,30}$")
    # Notifications are sent from a mailbox in the operator's own (home) tenant.
    notify_tenant_id: str | None = None
    notify_sender: str | None = None
    # Where people reach this deployment (links in notifications); no trailing slash.
    public_base_url: str = "http://127.0.0.1:7071"
    # Exchange Online (its admin REST endpoint, InvokeCommand); the sandbox's base URL locally. No trailing slash.
    exchange_base_url: str = DEFAULT_EXCHANGE_BASE_URL
    # Microsoft Defender for Endpoint's API (machine actions, indicators); the sandbox's base URL locally, a
    # regional host (e.g. https://eu.api.security.microsoft.com) or a US Government one in Azure. No trailing slash.
    defender_base_url: str = DEFAULT_DEFENDER_BASE_URL
    # Azure Resource Manager (Sentinel incidents): its base URL (the sandbox's locally), how Riposte signs in to
    # it, and which user-assigned managed identity it signs in as. Checked when an ARM step runs
    # (shared/arm/access.py), so a bad value fails those steps, not every endpoint. No trailing slash.
    arm_base_url: str = DEFAULT_ARM_BASE_URL
    arm_auth_mode: ArmAuthMode = ArmAuthMode.MANAGED_IDENTITY
    arm_managed_identity_client_id: str | None = None
    version: str = Field(default="0.1.0")
    # How long a run may go without a live Durable instance before the reconciler acts on it
    # (shared/run_recovery.py): longer than a start takes, short enough that a lost run is seen soon.
    reconcile_grace_seconds: int = Field(default=300, ge=60, le=86_400)
    # The first re-check of a Defender machine action a step follows (waitForCompletion), and the floor its later
    # checks double from (shared/primitives/machine_actions.py). The local stack sets 1 so tests do not idle.
    defender_check_seconds: int = Field(default=15, ge=1, le=300)
    # A tenant registered (POST /api/tenants) gets every polled source on at this interval; unset: all off
    # until PUT /api/tenants/{id}/sources. The local stack sets it so the sandbox tenants are polled.
    sources_on_register_seconds: int | None = Field(default=None, ge=5, le=86_400)
    # The app's base URL as Microsoft Graph reaches it (https; http on loopback locally): when set, each
    # tenant with alerts_v2 on gets a change-notification subscription to {url}/api/graph/notifications.
    # Or Graph's Event Grid form, `EventGrid:?...&partnertopic=...{tenantId}...` (shared/notifications/
    # destination.py): delivered through each tenant's partner topic to the Event Grid trigger.
    # Unset or `none`: no subscriptions (polling only).
    graph_notification_url: str | None = None
    # The `ServiceBus` connection the queue triggers read, for the queues the app sends to (`polls`):
    # in Azure identity-based (ServiceBus__fullyQualifiedNamespace, ServiceBus__clientId).
    service_bus_namespace: str | None = None
    service_bus_client_id: str | None = None
    # App Service authentication is on (WEBSITE_AUTH_ENABLED, set by the platform): only then is the client
    # principal header the platform's, in production (shared/auth.py).
    platform_auth_enabled: bool = False
    # Development only: who calls when no principal header is sent (RIPOSTE_LOCAL_PRINCIPAL_ROLES, comma-separated,
    # and RIPOSTE_LOCAL_PRINCIPAL_NAME). Unset: no local caller; set but empty: a caller who may do nothing.
    local_principal_roles: frozenset[str] | None = None
    local_principal_name: str = "local-developer"
    # The MSP's PSA systems (shared/psa): each one's base URL (https), and HaloPSA's tenant on a shared host.
    halopsa_url: str | None = None
    halopsa_tenant: str | None = None
    connectwise_url: str | None = None
    autotask_url: str | None = None
    # Hosts `http_request` steps may call (RIPOSTE_HTTP_REQUEST_HOSTS, comma-separated): `api.example.com`, or
    # `*.example.com` for the hosts below it. Empty: no playbook may make HTTP requests (docs/enrichment.md).
    http_request_hosts: frozenset[str] = frozenset()
    # Hosts outbound calls (webhooks, chat, PSA, http_request) may reach at a loopback or private address
    # (RIPOSTE_OUTBOUND_PRIVATE_HOSTS, same form): the local stack's sandbox on 127.0.0.1. Empty: every such
    # address is refused (shared/outbound_guard.py; link-local and metadata addresses are refused regardless).
    outbound_private_hosts: frozenset[str] = frozenset()
    # This Functions instance (WEBSITE_INSTANCE_ID, set by App Service on each): who holds a poll's claim.
    instance_id: str | None = None

    @field_validator("graph_notification_url")
    @classmethod
    def _known_destination(cls, value: str | None) -> str | None:
        if value is not None and is_event_grid(value):
            try:
                return check_event_grid(value)
            except ValueError as exc:
                raise ValueError(f"RIPOSTE_GRAPH_NOTIFICATION_URL: {exc}") from None
        return value

    @field_validator("http_request_hosts", "outbound_private_hosts")
    @classmethod
    def _host_names(cls, value: frozenset[str], info: ValidationInfo) -> frozenset[str]:
        for entry in value:
            if not _ALLOWED_HOST.match(entry) and not _is_ipv6(entry):
                raise ValueError(f"{_HOST_LIST_SETTINGS[info.field_name]}: {entry!r} is not a host name, an IP "
                                 "address or *.<domain> with at least two labels (no scheme, port or path)")
        return value

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT


def load_settings(env: dict[str, str] | None = None) -> AppSettings:
    """Build settings from an environment mapping (os.environ by default).

    Unknown values fail loudly: a typo in RIPOSTE_ENVIRONMENT must not silently mean "development".
    """
    env = os.environ if env is None else env
    return AppSettings(
        environment=Environment(env.get("RIPOSTE_ENVIRONMENT", Environment.PRODUCTION.value)),
        storage_connection_string=env.get("AzureWebJobsStorage") or None,
        table_service_uri=env.get("AzureWebJobsStorage__tableServiceUri") or None,
        storage_client_id=env.get("AzureWebJobsStorage__clientId") or None,
        task_hub=env.get("RIPOSTE_TASK_HUB", DEFAULT_TASK_HUB),
        table_prefix=env.get("RIPOSTE_TABLE_PREFIX", "riposte"),
        notify_tenant_id=env.get("RIPOSTE_NOTIFY_TENANT_ID") or None,
        notify_sender=env.get("RIPOSTE_NOTIFY_SENDER") or None,
        public_base_url=env.get("RIPOSTE_PUBLIC_BASE_URL", "http://127.0.0.1:7071").rstrip("/"),
        exchange_base_url=(env.get("EXCHANGE_BASE_URL") or DEFAULT_EXCHANGE_BASE_URL).rstrip("/"),
        defender_base_url=(env.get("DEFENDER_BASE_URL") or DEFAULT_DEFENDER_BASE_URL).rstrip("/"),
        arm_base_url=(env.get("ARM_BASE_URL") or DEFAULT_ARM_BASE_URL).rstrip("/"),
        arm_auth_mode=ArmAuthMode(env.get("ARM_AUTH_MODE") or ArmAuthMode.MANAGED_IDENTITY.value),
        arm_managed_identity_client_id=env.get("ARM_MANAGED_IDENTITY_CLIENT_ID") or None,
        reconcile_grace_seconds=int(env.get("RIPOSTE_RECONCILE_GRACE_SECONDS") or 300),
        defender_check_seconds=int(env.get("RIPOSTE_DEFENDER_CHECK_SECONDS") or 15),
        sources_on_register_seconds=int(env["RIPOSTE_SOURCES_ON_REGISTER_SECONDS"])
        if env.get("RIPOSTE_SOURCES_ON_REGISTER_SECONDS") else None,
        graph_notification_url=None if (env.get("RIPOSTE_GRAPH_NOTIFICATION_URL") or "none").lower() == "none"
        else env["RIPOSTE_GRAPH_NOTIFICATION_URL"].rstrip("/"),
        service_bus_namespace=env.get("ServiceBus__fullyQualifiedNamespace") or None,
        service_bus_client_id=env.get("ServiceBus__clientId") or None,
        platform_auth_enabled=env.get("WEBSITE_AUTH_ENABLED", "").lower() == "true",
        local_principal_roles=frozenset(role.strip() for role in env["RIPOSTE_LOCAL_PRINCIPAL_ROLES"].split(",")
                                        if role.strip()) if env.get("RIPOSTE_LOCAL_PRINCIPAL_ROLES") else None,
        local_principal_name=env.get("RIPOSTE_LOCAL_PRINCIPAL_NAME", "local-developer"),
        instance_id=env.get("WEBSITE_INSTANCE_ID") or None,
        halopsa_url=env.get("RIPOSTE_HALOPSA_URL") or None,
        halopsa_tenant=env.get("RIPOSTE_HALOPSA_TENANT") or None,
        connectwise_url=env.get("RIPOSTE_CONNECTWISE_URL") or None,
        autotask_url=env.get("RIPOSTE_AUTOTASK_URL") or None,
        http_request_hosts=_host_list(env.get("RIPOSTE_HTTP_REQUEST_HOSTS", "")),
        outbound_private_hosts=_host_list(env.get("RIPOSTE_OUTBOUND_PRIVATE_HOSTS", "")),
    )


def _host_list(value: str) -> frozenset[str]:
    return frozenset(host.strip().lower() for host in value.split(",") if host.strip())


def _is_ipv6(entry: str) -> bool:
    try:
        return ipaddress.ip_address(entry.strip("[]")).version == 6
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    return load_settings()
