"""One ``GraphServiceClient`` per customer tenant per event loop, built from ``GraphSettings``.

Whether the clients talk to Microsoft or to the local sandbox depends only on the base URL and
the credential kind in the settings.

Every tenant's client on a loop sends through ONE httpx client: one middleware pipeline (retries,
redirects, telemetry: none of it per tenant) over one transport (small connection pools, see
``ShardedPool``), with the process's TLS context.
Authentication is per tenant: each tenant's request adapter adds its own token to each request. With
a pool per tenant, a poller's next poll of a tenant found its connection expired and opened a new one
(a TLS handshake per poll in Azure, docs/benchmarks.md "Pollers").
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from azure.core.credentials_async import AsyncTokenCredential

from shared.loop_clients import PerLoop

from .credentials import (
    LocalTokenCredential,
    ManagedIdentityAssertion,
    certificate_credential,
    federated_managed_identity_credential,
)
from .settings import GraphAuthMode, GraphSettings, is_loopback_url, load_graph_settings

if TYPE_CHECKING:
    import httpx
    from msgraph import GraphServiceClient

    from .http_pipeline import GraphHttpClient

LOCAL_CLIENT_ID = "riposte-local"


class InvalidTenantIdError(ValueError):
    pass


class LocalTokenNotAllowedError(RuntimeError):
    pass


def validate_tenant_id(tenant_id: str) -> str:
    """The canonical (lower-case GUID) form; names like 'common' or domains are refused."""
    try:
        return str(uuid.UUID(str(tenant_id).strip()))
    except ValueError:
        raise InvalidTenantIdError(f"tenant id must be a GUID, got {tenant_id!r}") from None


def _new_http_client() -> GraphHttpClient:
    from .http_pipeline import build_http_client  # lazy: msgraph's client stack, loaded with a loop's first client

    return build_http_client()


@dataclass
class _LoopClients:
    """A loop's shared HTTP client, the tenants' credentials, and the tenants' SDK clients over both (built
    on first use: the pollers' reads need only the credential, shared/graph/json_get.py)."""

    http: GraphHttpClient = field(default_factory=_new_http_client)
    credentials: dict[str, AsyncTokenCredential] = field(default_factory=dict)
    clients: dict[str, GraphServiceClient] = field(default_factory=dict)

    async def aclose(self) -> None:
        credentials, self.credentials, self.clients = list(self.credentials.values()), {}, {}
        for credential in credentials:
            await credential.close()
        await self.http.aclose()


class GraphClientFactory:
    """``for_tenant(tid)`` returns the cached client of the *running* event loop for that tenant.

    Clients hold loop-bound HTTP connections, so a client is never shared across loops. A loop's clients,
    connections and credentials are released by ``aclose()`` on that loop, or when ``asyncio.run`` /
    ``asyncio.Runner`` finalizes it.
    """

    def __init__(self, settings: GraphSettings | None = None) -> None:
        self.settings = settings if settings is not None else load_graph_settings()
        if self.settings.auth_mode is GraphAuthMode.LOCAL_TOKEN and not is_loopback_url(self.settings.base_url):
            raise LocalTokenNotAllowedError(
                f"GRAPH_AUTH_MODE=local_token mints unsigned tokens and is only allowed for a loopback Graph "
                f"(127.0.0.1, localhost, ::1); GRAPH_BASE_URL is {self.settings.base_url}"
            )
        self._lock = threading.Lock()
        self._loops: PerLoop[_LoopClients] = PerLoop(_LoopClients, _LoopClients.aclose)
        self._assertion: ManagedIdentityAssertion | None = None

    def for_tenant(self, tenant_id: str) -> GraphServiceClient:
        tid = validate_tenant_id(tenant_id)
        clients = self._loops.get()
        with self._lock:
            if tid not in clients.clients:
                clients.clients[tid] = self._build(self._credential(clients, tid), clients.http)
            return clients.clients[tid]

    def tenant_credential(self, tenant_id: str) -> AsyncTokenCredential:
        """The running loop's credential of the tenant, the one its Graph client uses. It caches tokens per
        scope, so an Exchange call does not ask Entra ID for a new token each step. The factory closes it."""
        tid = validate_tenant_id(tenant_id)
        clients = self._loops.get()
        with self._lock:
            return self._credential(clients, tid)

    def transport(self) -> httpx.AsyncBaseTransport:
        """The running loop's transport under every tenant's Graph client (connection pools, TLS context),
        for requests that skip the SDK's middleware (shared/graph/json_get.py)."""
        return self._loops.get().http.pool

    def _credential(self, clients: _LoopClients, tid: str) -> AsyncTokenCredential:
        if tid not in clients.credentials:
            clients.credentials[tid] = self.credential_for(tid)
        return clients.credentials[tid]

    async def aclose(self) -> None:
        """Close the running loop's clients, credentials and connections (also done when the loop is
        finalized by `asyncio.run` or `asyncio.Runner`)."""
        await self._loops.aclose()

    def close_assertion(self) -> None:
        """Release the shared managed-identity credential (process shutdown)."""
        if self._assertion is not None:
            self._assertion.close()
            self._assertion = None

    def _build(self, credential: AsyncTokenCredential, http: GraphHttpClient) -> GraphServiceClient:
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph import GraphRequestAdapter, GraphServiceClient

        auth = AzureIdentityAuthenticationProvider(
            credential, scopes=[self.settings.scope], allowed_hosts=[self.settings.host]
        )
        adapter = GraphRequestAdapter(auth, client=http.client)  # the adapter authenticates each request
        adapter.base_url = self.settings.base_url  # before GraphServiceClient reads it
        return GraphServiceClient(request_adapter=adapter)

    def credential_for(self, tenant_id: str) -> AsyncTokenCredential:
        """A new async credential for the tenant, of the kind the settings ask for (caller closes it)."""
        s = self.settings
        if s.auth_mode is GraphAuthMode.LOCAL_TOKEN:
            return LocalTokenCredential(tenant_id, s.client_id or LOCAL_CLIENT_ID)
        assert s.client_id is not None  # enforced by GraphSettings
        if s.auth_mode is GraphAuthMode.CERTIFICATE:
            assert s.certificate_path is not None
            return certificate_credential(tenant_id, s.client_id, s.certificate_path)
        if self._assertion is None:
            self._assertion = ManagedIdentityAssertion(s.managed_identity_client_id)
        return federated_managed_identity_credential(tenant_id, s.client_id, self._assertion)
