"""Evaluating a scheduled playbook's population: per tenant in its scope, query, make findings, take each in.

Plain code: the caller hands in how a finding is taken in (intake + starting its run), so the timer, the
execute API and tests share it. One tenant's failure (consent revoked, throttled past retries) is recorded
with its reason and never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from shared.api_model import CamelModel
from shared.graph import GraphClientFactory
from shared.graph.errors import is_odata_error
from shared.models.alert import NormalizedAlert
from shared.models.playbook import AllTenants, OneTenant, Playbook
from shared.models.tenant import Tenant, TenantGroup
from shared.primitives.graph_errors import from_odata
from shared.schedules.findings import finding, occurrence_text
from shared.schedules.populations import population

log = logging.getLogger("riposte.schedules")

# What taking one finding in reports: {"alertId", "duplicate", "runIds", ...} (triggers/alert_delivery.summary).
TakeIn = Callable[[NormalizedAlert], Awaitable[dict[str, Any]]]


MAX_LISTED_RUNS = 50  # per tenant, in an evaluation's record: the count is exact, the list a sample
CONCURRENT_TENANTS = 8  # tenants queried at once (Graph throttles per tenant, so they do not slow each other)


class TenantOutcome(CamelModel):
    tenant_id: str
    targets: int = 0
    new_findings: int = 0
    duplicates: int = 0
    runs: int = 0
    run_ids: list[str] = []  # the first MAX_LISTED_RUNS, so a record stays small with 10,000 targets
    error: str | None = None

    def add_runs(self, run_ids: list[str]) -> None:
        self.runs += len(run_ids)
        self.run_ids.extend(run_ids[:max(0, MAX_LISTED_RUNS - len(self.run_ids))])


class Evaluation(CamelModel):
    playbook_id: str
    playbook_version: int
    occurrence: str
    tenants: list[TenantOutcome]

    @property
    def failed(self) -> list[TenantOutcome]:
        return [t for t in self.tenants if t.error is not None]


def tenants_in_scope(playbook: Playbook, tenants: list[Tenant], groups: list[TenantGroup]) -> list[str]:
    """Registered tenants the playbook's scope names (an unregistered one is never queried)."""
    registered = {t.id for t in tenants}
    scope = playbook.trigger.tenant_scope
    if isinstance(scope, AllTenants):
        wanted = registered
    elif isinstance(scope, OneTenant):
        wanted = {scope.tenant_id}
    else:
        wanted = {tid for g in groups if g.id == scope.group_id for tid in g.tenant_ids}
    return sorted(wanted & registered)


def _reason(exc: Exception) -> str:
    if is_odata_error(exc):
        error = from_odata(exc)
        return f"{error.code}: {error.message}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"


async def _evaluate_tenant(playbook: Playbook, occurrence: datetime, outcome: TenantOutcome,
                           graph: GraphClientFactory, take_in: TakeIn, now: datetime) -> None:
    query = playbook.trigger.population
    assert query is not None, "only scheduled playbooks have a population"
    try:
        targets = await population(graph.for_tenant(outcome.tenant_id), query, now)
        outcome.targets = len(targets)
        for target in targets:
            summary = await take_in(finding(playbook, outcome.tenant_id, target, occurrence))
            if summary["duplicate"]:
                outcome.duplicates += 1
            else:
                outcome.new_findings += 1
                outcome.add_runs(summary["runIds"])
    except Exception as exc:  # recorded per tenant; the others are still evaluated
        outcome.error = _reason(exc)
        log.warning("schedule %s: tenant %s not (fully) evaluated: %s", playbook.id, outcome.tenant_id, outcome.error)


async def evaluate(playbook: Playbook, occurrence: datetime, tenant_ids: list[str], graph: GraphClientFactory,
                   take_in: TakeIn, now: datetime) -> Evaluation:
    outcomes = [TenantOutcome(tenant_id=tenant_id) for tenant_id in tenant_ids]
    slots = asyncio.Semaphore(CONCURRENT_TENANTS)

    async def one(outcome: TenantOutcome) -> None:
        async with slots:
            await _evaluate_tenant(playbook, occurrence, outcome, graph, take_in, now)

    await asyncio.gather(*(one(outcome) for outcome in outcomes))
    return Evaluation(playbook_id=playbook.id, playbook_version=playbook.version,
                      occurrence=occurrence_text(occurrence), tenants=outcomes)
