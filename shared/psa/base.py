"""The interface every PSA adapter implements, and what they share: the ticket to create, errors, settings.

An adapter is small: it knows its vendor's URL, authentication, request body and priority table, and
sends through `shared.primitives.webhook.send_with_retries` (shared/http_retry.py's bounded retries) on the
step's `outbound()` client (shared/outbound_guard.py: HTTPS only, except the loopback sandbox; public
addresses only unless RIPOSTE_OUTBOUND_PRIVATE_HOSTS lists the host; no redirects).

Where each adapter's configuration comes from (one PSA instance per MSP, shared by every customer):
- the base URL: an app setting, `RIPOSTE_<SYSTEM>_URL` (the sandbox's `/halopsa`, `/connectwise`,
  `/autotask` locally);
- credentials: secrets by fixed names (`RIPOSTE_SECRET_<NAME>`, Key Vault references in Azure), listed
  in each adapter's `SECRETS`;
- per customer: the tenant's `psa` mapping (company, board/queue, team, technician, priority overrides).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol

import httpx

from shared.http_retry import Delivery
from shared.outbound_http import InsecureUrlError, require_secure
from shared.primitives.context import StepDependencies
from shared.primitives.webhook import DELIVERY_POLICY, delivery_failure
from shared.secrets import MissingSecretError

# Creating a ticket twice is a duplicate ticket: retry only what was certainly not processed
# (throttled, gateway/unavailable answers, connections that never reached the PSA), not a 500 or a
# timeout after the request was sent.
CREATE_POLICY = replace(DELIVERY_POLICY, retry_statuses=frozenset({429, 502, 503, 504}), retry_uncertain=False)
# Token requests change nothing: retry them on any transient failure.
TOKEN_POLICY = DELIVERY_POLICY


class PsaError(Exception):
    """A ticket could not be created; `code`/`message` become the step error."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    @classmethod
    def from_delivery(cls, delivery: Delivery, label: str) -> PsaError:
        outcome = delivery_failure(delivery, "psa", label, {})
        assert outcome.error is not None
        return cls(outcome.error.code, outcome.error.message, outcome.result)


@dataclass(frozen=True)
class TicketRequest:
    title: str
    description: str
    priority: int
    company_id: int
    board_id: int | None
    team_id: int | None
    technician_id: int | None
    technician_role_id: int | None


@dataclass(frozen=True)
class CreatedTicket:
    id: str
    attempts: int
    details: dict[str, Any] = field(default_factory=dict)


class PsaAdapter(Protocol):
    system: ClassVar[str]
    label: ClassVar[str]
    title_limit: ClassVar[int]
    description_limit: ClassVar[int]
    default_priorities: ClassVar[Mapping[str, int]]  # severity -> the PSA's priority id (documented per PSA)
    supports_team: ClassVar[bool]

    async def create_ticket(self, ticket: TicketRequest, deps: StepDependencies) -> CreatedTicket:
        """Through the step's HTTP client, settings (the PSA's URL) and secrets (its credentials)."""


def base_url(configured: str | None, setting: str, label: str) -> str:
    """The PSA's configured base URL (`configured`, from app setting `setting`), checked."""
    url = (configured or "").rstrip("/")
    if not url:
        raise PsaError("psa_not_configured", f"{label} is not configured (app setting {setting}).")
    try:
        return require_secure(url)
    except InsecureUrlError as exc:
        raise PsaError("psa_not_configured", f"{setting} is refused: {exc}.") from None


def secrets(names: tuple[str, ...], label: str, read: Callable[[str], str]) -> list[str]:
    try:
        return [read(name) for name in names]
    except MissingSecretError as exc:
        raise PsaError("psa_not_configured", f"{label} credentials are incomplete: {exc}.") from None


def json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
