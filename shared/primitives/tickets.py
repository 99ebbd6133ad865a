"""create_psa_ticket: open a ticket for the alert in the MSP's PSA (HaloPSA, ConnectWise or Autotask).

Which PSA, which company and board/queue, and the default team and technician come from the alert
tenant's `psa` mapping (shared/models/tenant.py); a tenant without one fails the step with
`psa_not_mapped`. The vendor's URL comes from an app setting and its credentials from secrets
(shared/psa/*). The ticket carries the alert summary (title, severity, category, users, source,
description) and the link to the run; `title` and `note` are templates (shared/templates.py).

Priority comes from the alert's severity through the PSA's default table (documented in each adapter
in shared/psa), overridable per tenant with `psa.priorities`. `teamId` / `technicianId` in the step
override the tenant's defaults.

Not idempotent (a second call is a second ticket; retries are limited to answers that mean "not
processed": see shared/psa/base.py). Not reversible: a ticket is the record of the incident, and
rollback leaves it for the service desk to close.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shared.models.run import StepStatus
from shared.models.tenant import PsaMapping, Tenant
from shared.outbound_guard import BlockedAddressError
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.notify import body_text
from shared.primitives.registry import Primitive, register
from shared.primitives.webhook import address_refused, run_url
from shared.psa import ADAPTERS, PsaAdapter, PsaError, TicketRequest
from shared.schemas.tickets import MAX_NOTE, MAX_TITLE, CreatePsaTicketParams
from shared.templates import TemplateRenderer

TenantLookup = Callable[[str], Awaitable[Tenant | None]]


def tenant_lookup(ctx: StepContext) -> TenantLookup:
    if ctx.deps.tenants is None:
        raise RuntimeError("StepDependencies.tenants is not wired (shared/services.py wires it)")
    return ctx.deps.tenants


def default_title(ctx: StepContext) -> str:
    return f"[Riposte] {ctx.alert.severity.value.upper()}: {ctx.alert.title}"


def ticket_request(params: CreatePsaTicketParams, ctx: StepContext, mapping: PsaMapping, adapter: PsaAdapter,
                   renderer: TemplateRenderer) -> TicketRequest:
    link = run_url(ctx)
    title = renderer.text("title", params.title, lambda: default_title(ctx), adapter.title_limit, single_line=True)
    note = renderer.text("note", params.note, "", MAX_NOTE) if params.note else ""
    summary = body_text(ctx.alert, ctx.run, link)
    description = f"{note}\n\n{summary}" if note else summary
    if len(description) > adapter.description_limit:
        description = description[: adapter.description_limit - 1] + "…"
    severity = ctx.alert.severity.value
    return TicketRequest(
        title=title, description=description,
        priority=mapping.priorities.get(severity) or adapter.default_priorities[severity],
        company_id=mapping.company_id, board_id=mapping.board_id,
        team_id=(params.team_id or mapping.team_id) if adapter.supports_team else None,
        technician_id=params.technician_id or mapping.technician_id,
        technician_role_id=mapping.technician_role_id,
    )


async def create_psa_ticket(params: CreatePsaTicketParams, ctx: StepContext) -> StepOutcome:
    tenant_id = ctx.alert.tenant_id
    if tenant_id is None:
        return StepOutcome.skipped("The alert is not attributed to a tenant, so no customer's PSA mapping applies.")
    tenant = await tenant_lookup(ctx)(tenant_id)
    if tenant is None:
        return StepOutcome.failed("unknown_tenant", f"Tenant {tenant_id} is not registered in Riposte.")
    if tenant.psa is None:
        return StepOutcome.failed("psa_not_mapped", f"Tenant '{tenant.name}' ({tenant_id}) has no PSA mapping: "
                                  "set its `psa` (system, companyId, boardId, ...) to create tickets.")
    mapping = tenant.psa
    adapter = ADAPTERS[mapping.system]
    renderer = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx))
    ticket = ticket_request(params, ctx, mapping, adapter, renderer)
    result: dict[str, Any] = renderer.record({
        "system": mapping.system.value, "companyId": ticket.company_id, "boardId": ticket.board_id,
        "priority": ticket.priority, "teamId": ticket.team_id, "technicianId": ticket.technician_id,
        "title": ticket.title,
    })
    try:
        created = await adapter.create_ticket(ticket, ctx.deps)
    except PsaError as exc:
        return StepOutcome.failed(exc.code, exc.message, result | exc.details)
    except BlockedAddressError as exc:
        return address_refused(exc, adapter.label, result)
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {"ticketId": created.id, "attempts": created.attempts})


def describe_create_psa_ticket(params: CreatePsaTicketParams, ctx: StepContext) -> str:
    title = TemplateRenderer.for_step(ctx.alert, ctx.run, run_url(ctx)).text(
        "title", params.title, lambda: default_title(ctx), MAX_TITLE, single_line=True)
    if ctx.alert.tenant_id is None:
        return "Would skip: the alert is not attributed to a tenant."
    assignment = "".join([f", team {params.team_id}" if params.team_id else "",
                          f", technician {params.technician_id}" if params.technician_id else ""])
    return (f"Would create the ticket \"{title}\" in the PSA mapped to tenant {ctx.alert.tenant_id} (its company and "
            f"board), priority from severity {ctx.alert.severity.value}{assignment}.")


register(Primitive(
    "create_psa_ticket", CreatePsaTicketParams,
    "Open a ticket for the alert in the MSP's PSA (HaloPSA, ConnectWise or Autotask), per the tenant's PSA mapping.",
    (), (),
    idempotent=False, needs_user=False,
    handler=create_psa_ticket, describe=describe_create_psa_ticket,
    example={"type": "create_psa_ticket", "note": "Riposte contained {{ users|length }} user(s) automatically."},
    # Not reversible: the ticket is the incident's record; rollback leaves it for the service desk.
))
