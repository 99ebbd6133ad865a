"""How Riposte reaches Azure Resource Manager: the base URL and the app's own managed identity, from settings.

Only these differ between Azure and the local sandbox: `ARM_BASE_URL` (https://management.azure.com, or the
sandbox's loopback URL) and `ARM_AUTH_MODE` (`managed_identity`, or `local_token` for the sandbox, refused
for any host that is not loopback). The identity is the app's user-assigned one
(`ARM_MANAGED_IDENTITY_CLIENT_ID`): a token from its home tenant, for `https://management.azure.com/.default`;
a workspace in a customer's tenant is reached through Azure Lighthouse (docs/deploy.md).

One credential per event loop (like the Graph clients, shared/graph/client_factory.py), so its token cache
lasts across steps instead of asking the identity endpoint at every step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.core.credentials_async import AsyncTokenCredential

from shared.arm.client import ArmClient, ArmError
from shared.graph.credentials import LocalTokenCredential
from shared.graph.settings import is_loopback_url
from shared.loop_clients import PerLoop
from shared.outbound_http import InsecureUrlError, require_secure
from shared.settings import AppSettings, ArmAuthMode

if TYPE_CHECKING:
    import httpx

# The sandbox's tokens carry a tenant; a managed identity's token comes from its home tenant, whatever the
# customer. This stands for that home tenant locally.
LOCAL_HOME_TENANT = "00000000-0000-4000-8000-0000000a4a00"
LOCAL_CLIENT_ID = "riposte-local-managed-identity"


async def _close(credential: AsyncTokenCredential) -> None:
    await credential.close()


class ArmAccess:
    """`client()`: an ArmClient on the running loop's credential; ArmError `arm_misconfigured` when the settings
    cannot work (plain http to a remote host, local tokens to a remote host)."""

    def __init__(self, base_url: str, auth_mode: ArmAuthMode, managed_identity_client_id: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_mode = auth_mode
        self.managed_identity_client_id = managed_identity_client_id
        self._credentials: PerLoop[AsyncTokenCredential] = PerLoop(self._new_credential, _close)

    @classmethod
    def from_settings(cls, settings: AppSettings) -> ArmAccess:
        return cls(settings.arm_base_url, settings.arm_auth_mode, settings.arm_managed_identity_client_id)

    def check(self) -> None:
        try:
            require_secure(self.base_url)
        except InsecureUrlError as exc:
            raise ArmError("arm_misconfigured", f"ARM_BASE_URL: {exc}") from None
        if self.auth_mode is ArmAuthMode.LOCAL_TOKEN and not is_loopback_url(self.base_url):
            raise ArmError("arm_misconfigured", "ARM_AUTH_MODE=local_token mints unsigned tokens and is only allowed "
                           f"for a loopback ARM_BASE_URL (the sandbox), not {self.base_url}.")

    def _new_credential(self) -> AsyncTokenCredential:
        if self.auth_mode is ArmAuthMode.LOCAL_TOKEN:
            return LocalTokenCredential(LOCAL_HOME_TENANT, LOCAL_CLIENT_ID)
        from azure.identity.aio import ManagedIdentityCredential  # lazy: azure.identity, loaded by its first use

        return ManagedIdentityCredential(client_id=self.managed_identity_client_id)

    def client(self, http: httpx.AsyncClient | None = None) -> ArmClient:
        self.check()
        return ArmClient(self.base_url, self._credentials.get(), http=http)

    async def aclose(self) -> None:
        """Close the running loop's credential (it is also closed when the loop is finalized)."""
        await self._credentials.aclose()
