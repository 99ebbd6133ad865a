"""ConnectWise PSA (Manage): `POST {url}/v4_6_release/apis/3.0/service/tickets`, answered 201 with the ticket.

- Authentication: `Authorization: Basic base64("<companyId>+<publicKey>:<privateKey>")` (an API
  member's keys) and the `clientId` header (from the ConnectWise developer portal).
- Settings: `RIPOSTE_CONNECTWISE_URL` (e.g. https://api-na.myconnectwise.net). Secrets:
  `connectwise-company-id`, `connectwise-public-key`, `connectwise-private-key`, `connectwise-client-id`.
- Mapping: companyId -> `company.id`, boardId -> `board.id` (required), teamId -> `team.id` (a team of
  that board), technicianId -> `owner.id` (a member).
- Default priorities (`priority.id`): critical 1, high 2, medium 3, low 4, informational 4, meaning
  "Priority 1 - Emergency Response" ... "Priority 4 - Schedule Maintenance". Priority ids differ
  between ConnectWise instances: check `GET /service/priorities` and set the tenant's `priorities`.
- `summary` is limited to 100 characters by ConnectWise.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

import httpx

from shared.primitives.context import StepDependencies
from shared.primitives.webhook import send_with_retries
from shared.psa.base import CREATE_POLICY, CreatedTicket, PsaError, TicketRequest, base_url, json_body
from shared.psa.base import secrets as read_secrets

URL_SETTING = "RIPOSTE_CONNECTWISE_URL"
SECRETS = ("connectwise-company-id", "connectwise-public-key", "connectwise-private-key", "connectwise-client-id")
TICKETS_PATH = "/v4_6_release/apis/3.0/service/tickets"


class ConnectWise:
    system: ClassVar[str] = "connectwise"
    label: ClassVar[str] = "ConnectWise"
    title_limit: ClassVar[int] = 100
    description_limit: ClassVar[int] = 8000
    default_priorities: ClassVar[dict[str, int]] = {"critical": 1, "high": 2, "medium": 3, "low": 4,
                                                      "informational": 4}
    supports_team: ClassVar[bool] = True

    async def create_ticket(self, ticket: TicketRequest, deps: StepDependencies) -> CreatedTicket:
        http, settings = deps.outbound(), deps.settings
        url = base_url(settings.connectwise_url, URL_SETTING, self.label)
        company, public_key, private_key, client_id = read_secrets(SECRETS, self.label, deps.secrets)
        basic = base64.b64encode(f"{company}+{public_key}:{private_key}".encode()).decode()
        body: dict[str, Any] = {
            "summary": ticket.title, "initialDescription": ticket.description,
            "company": {"id": ticket.company_id}, "board": {"id": ticket.board_id},
            "priority": {"id": ticket.priority},
        }
        if ticket.team_id is not None:
            body["team"] = {"id": ticket.team_id}
        if ticket.technician_id is not None:
            body["owner"] = {"id": ticket.technician_id}
        headers = {"Authorization": f"Basic {basic}", "clientId": client_id, "Accept": "application/json"}
        sent = await send_with_retries(http, lambda: httpx.Request(
            "POST", f"{url}{TICKETS_PATH}", json=body, headers=headers), CREATE_POLICY)
        if not sent.ok:
            raise PsaError.from_delivery(sent, self.label)
        assert sent.response is not None
        created = json_body(sent.response)
        if not isinstance(created, dict) or created.get("id") is None:
            raise PsaError("psa_error", "ConnectWise answered without the created ticket's id.")
        return CreatedTicket(str(created["id"]), sent.attempts)
