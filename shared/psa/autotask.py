"""Autotask (Datto/Kaseya) REST: `POST {zone url}/ATServicesRest/V1.0/Tickets`, answered `{"itemId": N}`.

- Authentication headers: `ApiIntegrationCode`, `UserName`, `Secret` (an API-only user and the
  integration's tracking identifier).
- Settings: `RIPOSTE_AUTOTASK_URL`, the zone's web services URL (e.g. https://webservices5.autotask.net;
  `GET https://webservices.autotask.net/atservicesrest/v1.0/ZoneInformation?user=...` tells which).
  Secrets: `autotask-integration-code`, `autotask-username`, `autotask-secret`.
- Mapping: companyId -> `companyID`, boardId -> `queueID` (required; the queue is the team: Autotask
  tickets have no team field, so a team is not sent), technicianId -> `assignedResourceID` with
  technicianRoleId -> `assignedResourceRoleID` (Autotask requires both together). `status` is 1 (New).
- Default priorities (the stock "Priority" picklist): critical 4 (Critical), high 1 (High), medium 2
  (Medium), low 3 (Low), informational 3. Picklists can be edited per instance: check
  `GET /V1.0/Tickets/entityInformation/fields` and set the tenant's `priorities` if they differ.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from shared.primitives.context import StepDependencies
from shared.primitives.webhook import send_with_retries
from shared.psa.base import CREATE_POLICY, CreatedTicket, PsaError, TicketRequest, base_url, json_body
from shared.psa.base import secrets as read_secrets

URL_SETTING = "RIPOSTE_AUTOTASK_URL"
SECRETS = ("autotask-integration-code", "autotask-username", "autotask-secret")
TICKETS_PATH = "/ATServicesRest/V1.0/Tickets"
STATUS_NEW = 1


class Autotask:
    system: ClassVar[str] = "autotask"
    label: ClassVar[str] = "Autotask"
    title_limit: ClassVar[int] = 255
    description_limit: ClassVar[int] = 8000
    default_priorities: ClassVar[dict[str, int]] = {"critical": 4, "high": 1, "medium": 2, "low": 3,
                                                      "informational": 3}
    supports_team: ClassVar[bool] = False

    async def create_ticket(self, ticket: TicketRequest, deps: StepDependencies) -> CreatedTicket:
        http, settings = deps.outbound(), deps.settings
        url = base_url(settings.autotask_url, URL_SETTING, self.label)
        if ticket.technician_id is not None and ticket.technician_role_id is None:
            raise PsaError("psa_mapping_incomplete", "Autotask needs the tenant's technicianRoleId to assign a "
                           "technician (assignedResourceRoleID).")
        code, user, secret = read_secrets(SECRETS, self.label, deps.secrets)
        body: dict[str, Any] = {
            "companyID": ticket.company_id, "queueID": ticket.board_id, "title": ticket.title,
            "description": ticket.description, "status": STATUS_NEW, "priority": ticket.priority,
        }
        if ticket.technician_id is not None:
            body |= {"assignedResourceID": ticket.technician_id, "assignedResourceRoleID": ticket.technician_role_id}
        headers = {"ApiIntegrationCode": code, "UserName": user, "Secret": secret, "Accept": "application/json"}
        sent = await send_with_retries(http, lambda: httpx.Request(
            "POST", f"{url}{TICKETS_PATH}", json=body, headers=headers), CREATE_POLICY)
        if not sent.ok:
            raise PsaError.from_delivery(sent, self.label)
        assert sent.response is not None
        created = json_body(sent.response)
        if not isinstance(created, dict) or created.get("itemId") is None:
            raise PsaError("psa_error", "Autotask answered without the created ticket's itemId.")
        return CreatedTicket(str(created["itemId"]), sent.attempts)
