"""What a primitive gets to work with, and what it reports back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared import outbound_guard, outbound_http
from shared.api_model import CamelModel
from shared.models.alert import AlertEntities, Severity
from shared.models.run import StepError, StepStatus
from shared.secrets import get_secret

if TYPE_CHECKING:
    import httpx
    from msgraph import GraphServiceClient

    from shared.arm import ArmAccess
    from shared.graph import GraphClientFactory
    from shared.models.tenant import Tenant
    from shared.passwords import RevealStore
    from shared.settings import AppSettings
    from shared.store.audit import AuditLog


class AlertContext(CamelModel):
    """The part of an alert a run needs (no raw payload: orchestration inputs stay small)."""

    id: str
    source: str
    source_alert_id: str = ""  # the id in the source system (write-back to Defender / Graph alerts)
    tenant_id: str | None
    category: str
    severity: Severity
    title: str
    description: str = ""
    created_at: str
    entities: AlertEntities = Field(default_factory=AlertEntities)
    # What the run read about the alert's user and device before this step (shared/interpreter/learned.py):
    # {"user": {...}, "device": {...}} for templates; empty outside a run.
    facts: dict[str, Any] = Field(default_factory=dict)


class RunContext(CamelModel):
    run_id: str
    playbook_id: str
    playbook_name: str
    playbook_version: int
    # Every approver the playbook names (its approval steps' and its approval policy's), for the recipient
    # `{"role": "approvers"}`; left out of the JSON when there are none (a run's input reads as before).
    approvers: list[str] = Field(default_factory=list, exclude_if=lambda approvers: not approvers)


@dataclass
class StepOutcome:
    status: StepStatus
    result: dict[str, Any] = field(default_factory=dict)
    error: StepError | None = None
    reason: str | None = None

    @classmethod
    def skipped(cls, reason: str) -> StepOutcome:
        return cls(StepStatus.SKIPPED, reason=reason)

    @classmethod
    def failed(cls, code: str, message: str, result: dict[str, Any] | None = None) -> StepOutcome:
        return cls(StepStatus.FAILED, result=result or {}, error=StepError(code=code, message=message))


@dataclass
class StepDependencies:
    """The outside world a primitive may use, built once per process (shared/services.py, the composition
    root). A step reaches it through its context, never through module globals."""

    graph: GraphClientFactory
    settings: AppSettings
    # A registered tenant by id (PSA mapping and the like); None when the tenant is unknown.
    tenants: Callable[[str], Awaitable[Tenant | None]] | None = None
    # The password vault: where a reset's temporary passwords are sealed for their one reveal. None: no
    # password may be set (the step fails before any reaches Graph).
    passwords: RevealStore | None = None
    # The audit log (approval gates record their decisions and closing); None where nothing is audited.
    audit: AuditLog | None = None
    # HTTP to Microsoft's APIs at their configured base URLs (ARM): the running loop's shared client
    # (shared/outbound_http.py).
    http: Callable[[], httpx.AsyncClient] = outbound_http.client
    # HTTP to destinations a playbook, a secret or a setting names (http_request, call_webhook, Teams and Slack,
    # PSA systems), by the deployment's RIPOSTE_OUTBOUND_PRIVATE_HOSTS: every address checked when its
    # connection opens (shared/outbound_guard.py). Senders call `outbound()`.
    guarded_http: Callable[[frozenset[str]], httpx.AsyncClient] = outbound_guard.client
    # A secret by name (shared/secrets.py); MissingSecretError when it is not configured.
    secrets: Callable[[str], str] = get_secret
    # Azure Resource Manager with the app's managed identity (Sentinel incidents); None: no ARM step can act.
    arm: ArmAccess | None = None

    def outbound(self) -> httpx.AsyncClient:
        """The client for a destination someone other than Microsoft chose (see `guarded_http`)."""
        return self.guarded_http(self.settings.outbound_private_hosts)


@dataclass
class StepContext:
    """What a primitive's handler, describer and undoer get: the alert, the run, the world."""

    alert: AlertContext
    run: RunContext
    deps: StepDependencies
    step_index: int | None = None  # the step's place in the run (the runner sets it; None in describe/undo)
    # The outcomes of the steps before it (a primitive that `reports_steps`: notifications), as the run
    # recorded them: index, actionType, status, result, error, reason. Empty for other primitives.
    steps: list[dict[str, Any]] = field(default_factory=list)

    def tenant_graph(self) -> GraphServiceClient:
        """The Graph client of the alert's tenant (callers check `alert.tenant_id` first)."""
        if self.alert.tenant_id is None:
            raise ValueError("the alert has no tenant")
        return self.deps.graph.for_tenant(self.alert.tenant_id)
