"""A delivery of alerts, whatever delivered it (HTTP, Event Grid, Service Bus, a poll, a schedule), takes one
path: normalize, record (shared/alert_recording.py), start the matched runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import azure.durable_functions as df

from shared import log_events, run_recovery, services
from shared.alert_payloads import PayloadError, normalize_payload
from shared.alert_recording import AlertRecorder, Recorded
from shared.ingest_auth import ClaimRefused, Sender, SenderKind, check_claims
from shared.matching.snapshot import MatchingSnapshot
from shared.models.alert import NormalizedAlert
from shared.store.alerts import AlertTooLarge, check_storable
from shared.store.audit import AuditLog
from shared.store.tables import Tables

log = logging.getLogger("riposte.delivery")
MAX_ALERTS_PER_DELIVERY = 100
_REFUSAL_CODES = {PayloadError: "invalid_alert", AlertTooLarge: "alert_too_large"}  # as the HTTP answer
RUN_ORCHESTRATOR = run_recovery.RUN_ORCHESTRATOR
# A sender's claims checked against the matching snapshot before anything is stored (shared/ingest_auth.py).
Check = Callable[[list[NormalizedAlert], MatchingSnapshot], None]


@dataclass(frozen=True)
class Delivery:
    """What a delivery needs from the world: the recorder, and the tables and audit log run recovery uses. Built
    once per process from the composition root (`delivery()`); tests build their own."""

    recorder: AlertRecorder
    tables: Tables
    audit: AuditLog

    async def start_runs(self, client: df.DurableOrchestrationClient, result: Recorded) -> list[str]:
        """Hand each new run to Durable Functions under its deterministic instance id; returns those started.
        A re-delivery restarts a run whose instance is gone when that is safe (shared/run_recovery.py)."""
        started = []
        for request in result.to_start:
            run_id = request.run.run_id
            try:
                await client.start_new(RUN_ORCHESTRATOR, instance_id=run_id,
                                       client_input=request.model_dump(mode="json", by_alias=True))
                started.append(run_id)
            except Exception:  # the run stays "pending"; a re-delivery or the reconciler starts it
                log.exception("could not start run %s of alert %s", run_id, result.alert.id)
        for run in result.redrive:
            try:
                decision = await run_recovery.recover(client, self.tables, self.audit, run, run.id,
                                                      datetime.now(UTC), self.recorder.redrive_after)
            except Exception:  # the reconciler tries again
                log.exception("could not check run %s of alert %s", run.id, result.alert.id)
                continue
            if decision.action is run_recovery.Action.RESTART:
                started.append(run.id)
        return started

    async def accept(self, body: Any, client: df.DurableOrchestrationClient, endpoint_tenant: str | None,
                     check: Check | None = None) -> list[dict]:
        """Raises PayloadError for a body that is not an alert, AlertTooLarge for one too large to keep, or
        what `check` raises (nothing of the delivery is stored then).

        Everything runs on the event loop (async table clients, cached matching snapshot): no worker-thread hop
        per delivery."""
        try:
            alerts = normalize_payload(body, MAX_ALERTS_PER_DELIVERY)  # refused before parsing more
            if not alerts:
                raise PayloadError("The body contains no alerts.", None)
            return await self.accept_alerts(alerts, client, endpoint_tenant, check)
        except (PayloadError, ClaimRefused, AlertTooLarge) as exc:
            log_refused(exc, endpoint_tenant)
            raise

    async def accept_alerts(self, alerts: list[NormalizedAlert], client: df.DurableOrchestrationClient,
                            endpoint_tenant: str | None, check: Check | None = None) -> list[dict]:
        """accept() for alerts normalized already (a poller's records, shared/pollers/records.py)."""
        if len(alerts) > MAX_ALERTS_PER_DELIVERY:
            raise PayloadError(f"At most {MAX_ALERTS_PER_DELIVERY} alerts per delivery, got {len(alerts)}.", "value")
        if check is not None:  # the sender's claims (shared/ingest_auth.check_claims), before anything is stored
            check(alerts, await self.recorder.snapshot_async())
        for normalized in alerts:
            check_storable(normalized)
        summaries = []
        for normalized in alerts:
            result = await self.recorder.record(normalized, endpoint_tenant)
            await self.start_runs(client, result)  # before the list row: the runs do not wait for it
            await self.recorder.list(result)
            summaries.append(summary(result))
        return summaries


@lru_cache(maxsize=1)
def delivery() -> Delivery:
    """The process's Delivery, from the composition root (shared/services.py)."""
    # The matching cache is the process's own, shared with the console's simulation.
    return Delivery(AlertRecorder(services.async_tables(), services.matching_cache(),
                                  lookup=services.subject_lookup()), services.tables(), services.audit())


# Event Grid and Service Bus senders are authenticated by Azure roles on our own topic and queue, not per
# tenant: they deliver for any tenant, like a multi-tenant credential, and so may name only registered ones.
AZURE_ROLE_SENDER = Sender(SenderKind.MULTI_TENANT, "azure-role")


def check_azure_role_sender(alerts: list[NormalizedAlert], snapshot: MatchingSnapshot) -> None:
    """ClaimRefused (422) when an alert names a tenant that is not registered."""
    check_claims(alerts, AZURE_ROLE_SENDER, None, snapshot.tenants)


def summary(result: Recorded) -> dict[str, Any]:
    return {
        "alertId": result.alert.id,
        "duplicate": result.duplicate,
        "statusUpdated": result.status_updated,
        "tenantId": result.alert.tenant_id,
        "attribution": result.alert.attribution.value,
        "considered": len(result.decisions),
        "matched": sum(1 for d in result.decisions if d.matched),
        "runIds": result.run_ids,
    }


def log_refused(exc: PayloadError | ClaimRefused | AlertTooLarge, tenant_id: str | None, source: str | None = None,
                record_id: str | None = None) -> None:
    """The `alert.refused` event, with the code the HTTP answer carries (a polled record: its source and id)."""
    log_events.alert_refused(getattr(exc, "code", None) or _REFUSAL_CODES[type(exc)], getattr(exc, "field", None),
                             tenant_id, source, record_id)
