"""HaloPSA: OAuth2 client credentials at `{url}/auth/token`, then `POST {url}/api/Tickets` with an ARRAY
of tickets (Halo's create-or-update convention), answered with the created ticket.

- Settings: `RIPOSTE_HALOPSA_URL` (e.g. https://yourmsp.halopsa.com), optional `RIPOSTE_HALOPSA_TENANT`
  (hosted instances: sent as `?tenant=`). Secrets: `halopsa-client-id`, `halopsa-client-secret` (an
  API application with the client-credentials flow, scope `all` or `edit:tickets`).
- Mapping: companyId -> `client_id`, boardId -> `tickettype_id` (optional), teamId -> `team_id`,
  technicianId -> `agent_id`.
- Default priorities (`priority_id`, Halo's stock SLA priorities): critical 1, high 2, medium 3,
  low 4, informational 4.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from shared.primitives.context import StepDependencies
from shared.primitives.webhook import Delivery, send_with_retries
from shared.psa.base import CREATE_POLICY, TOKEN_POLICY, CreatedTicket, PsaError, TicketRequest, base_url, json_body
from shared.psa.base import secrets as read_secrets

URL_SETTING = "RIPOSTE_HALOPSA_URL"
SECRETS = ("halopsa-client-id", "halopsa-client-secret")

# (token URL, client id, secret digest) -> (access token, expiry): one token per process for its lifetime.
_TOKENS: dict[tuple[str, str, str], tuple[str, float]] = {}


class HaloPsa:
    system: ClassVar[str] = "halopsa"
    label: ClassVar[str] = "HaloPSA"
    title_limit: ClassVar[int] = 255
    description_limit: ClassVar[int] = 8000
    default_priorities: ClassVar[dict[str, int]] = {"critical": 1, "high": 2, "medium": 3, "low": 4,
                                                      "informational": 4}
    supports_team: ClassVar[bool] = True

    async def _token(self, http: httpx.AsyncClient, url: str, deps: StepDependencies,
                     fresh: bool = False) -> tuple[str, bool]:
        """(access token, whether it came from the cache)."""
        client_id, client_secret = read_secrets(SECRETS, self.label, deps.secrets)
        tenant = deps.settings.halopsa_tenant
        token_url = f"{url}/auth/token" + (f"?tenant={quote(tenant)}" if tenant else "")
        key = (token_url, client_id, hashlib.sha256(client_secret.encode()).hexdigest())
        cached = _TOKENS.get(key)
        if cached and cached[1] > time.monotonic() and not fresh:
            return cached[0], True
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret,
                "scope": "all"}
        sent = await send_with_retries(http, lambda: httpx.Request("POST", token_url, data=form), TOKEN_POLICY)
        if not sent.ok:
            raise PsaError.from_delivery(sent, "HaloPSA's token endpoint")
        assert sent.response is not None
        body = json_body(sent.response) or {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PsaError("psa_error", "HaloPSA's token endpoint answered without an access_token.")
        lifetime = float(body.get("expires_in") or 300)
        _TOKENS[key] = (token, time.monotonic() + max(0.0, lifetime - 60))
        return token, False

    async def create_ticket(self, ticket: TicketRequest, deps: StepDependencies) -> CreatedTicket:
        http, settings = deps.outbound(), deps.settings
        url = base_url(settings.halopsa_url, URL_SETTING, self.label)
        item: dict[str, Any] = {
            "summary": ticket.title, "details": ticket.description, "client_id": ticket.company_id,
            "priority_id": ticket.priority,
        }
        optional = {"tickettype_id": ticket.board_id, "team_id": ticket.team_id, "agent_id": ticket.technician_id}
        item |= {k: v for k, v in optional.items() if v is not None}
        token, cached = await self._token(http, url, deps)
        sent = await self._post(http, url, token, item)
        if cached and sent.response is not None and sent.response.status_code == 401:
            # A cached token that was revoked or outlived: a 401 means nothing was created, so ask again once.
            token, _ = await self._token(http, url, deps, fresh=True)
            sent = await self._post(http, url, token, item)
        if not sent.ok:
            raise PsaError.from_delivery(sent, self.label)
        assert sent.response is not None
        created = json_body(sent.response)
        if isinstance(created, list):
            created = created[0] if created else None
        if not isinstance(created, dict) or created.get("id") is None:
            raise PsaError("psa_error", "HaloPSA answered without the created ticket's id.")
        return CreatedTicket(str(created["id"]), sent.attempts)

    @staticmethod
    async def _post(http: httpx.AsyncClient, url: str, token: str, item: dict[str, Any]) -> Delivery:
        return await send_with_retries(http, lambda: httpx.Request(
            "POST", f"{url}/api/Tickets", json=[item], headers={"Authorization": f"Bearer {token}"}), CREATE_POLICY)
