"""Credentials for Graph: production (federated managed identity, certificate) and loopback-only
unsigned tokens for the sandbox.

All credentials returned here are *async* (``azure.identity.aio`` style), as msgraph-sdk's
``AzureIdentityAuthenticationProvider`` awaits ``get_token``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential
from azure.core.credentials_async import AsyncTokenCredential

GRAPH_AUDIENCE = "https://graph.microsoft.com"
TOKEN_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"  # noqa: S105 - a scope, not a secret
LOCAL_TOKEN_LIFETIME_S = 3600


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def mint_unsigned_token(tenant_id: str, app_id: str, expires_at: float, audience: str = GRAPH_AUDIENCE) -> str:
    """``base64url(header).base64url(payload).``: an unsigned JWT, accepted only by the sandbox."""
    now = int(time.time())
    header = {"alg": "none", "typ": "JWT"}
    payload = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": now,
        "nbf": now,
        "exp": int(expires_at),
        "appid": app_id,
        "tid": tenant_id,
    }
    return f"{_b64url(header)}.{_b64url(payload)}."


def audience_of(scopes: tuple[str, ...] | list[str]) -> str:
    """The ``aud`` Entra ID puts in a token for these scopes: the resource, e.g.
    ``https://outlook.office365.com/.default`` -> ``https://outlook.office365.com`` (Graph when none)."""
    if not scopes:
        return GRAPH_AUDIENCE
    parts = urlsplit(scopes[0])
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return scopes[0].split("/", 1)[0]  # an app id URI without a scheme, e.g. "<app id>/.default"


class LocalTokenCredential:
    """Async token credential minting unsigned tokens for the loopback Graph sandbox.

    ``GraphClientFactory`` refuses it for any non-loopback base URL, so such a token can never
    leave the machine.
    """

    def __init__(self, tenant_id: str, client_id: str, lifetime_s: int = LOCAL_TOKEN_LIFETIME_S) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._lifetime_s = lifetime_s

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        expires_on = int(time.time()) + self._lifetime_s
        token = mint_unsigned_token(tenant_id or self.tenant_id, self.client_id, expires_on, audience_of(scopes))
        return AccessToken(token, expires_on)

    async def get_token_info(self, *scopes: str, options: dict[str, Any] | None = None) -> AccessTokenInfo:
        token = await self.get_token(*scopes, tenant_id=(options or {}).get("tenant_id"))
        return AccessTokenInfo(token.token, token.expires_on)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> LocalTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class ManagedIdentityAssertion:
    """Callable giving ClientAssertionCredential its assertion: a managed-identity token for
    ``api://AzureADTokenExchange``.

    ClientAssertionCredential calls it synchronously, so this wraps the sync ManagedIdentityCredential
    (its token is cached, so the blocking IMDS call happens about once an hour). One instance is
    shared by every tenant's credential.
    """

    def __init__(self, managed_identity_client_id: str | None, credential: TokenCredential | None = None) -> None:
        if credential is None:
            # azure.identity (with msal and cryptography, ~200 modules) is imported by the first production
            # credential, not by `import function_app` (docs/benchmarks.md, cold import).
            from azure.identity import ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=managed_identity_client_id)
        self._credential = credential

    def __call__(self) -> str:
        return self._credential.get_token(TOKEN_EXCHANGE_SCOPE).token

    def close(self) -> None:
        close = getattr(self._credential, "close", None)
        if close is not None:
            close()


def federated_managed_identity_credential(
    tenant_id: str, client_id: str, assertion: ManagedIdentityAssertion
) -> AsyncTokenCredential:
    from azure.identity.aio import ClientAssertionCredential  # imported when first needed, as above

    return ClientAssertionCredential(tenant_id=tenant_id, client_id=client_id, func=assertion)


def certificate_credential(tenant_id: str, client_id: str, certificate_path: str) -> AsyncTokenCredential:
    from azure.identity.aio import CertificateCredential  # imported when first needed, as above

    return CertificateCredential(tenant_id=tenant_id, client_id=client_id, certificate_path=certificate_path)
