"""A polled source is logged for operators (shared/log_events.py): tenant, source, items, Graph requests,
duration, and the error code of a failed poll."""

from __future__ import annotations

import logging

import pytest

from tests.pollers.test_poll_sandbox import ALERTS, Collected, enable, poll

from .conftest import inject, new_sandbox_tenant

pytestmark = pytest.mark.stack


def polled(caplog, tenant_id: str) -> list[dict]:
    return [vars(r) for r in caplog.records if getattr(r, "event", None) == "source.polled"
            and r.tenantId == tenant_id]


async def test_each_poll_logs_its_tenant_source_counts_and_error(store, states, graphs, control, tenant, caplog):
    caplog.set_level(logging.INFO, logger="riposte.events")
    throttled = new_sandbox_tenant(control)
    enable(store, tenant, ALERTS)
    enable(store, throttled, ALERTS)
    assert control.post(f"/_sandbox/tenants/{throttled}/throttle", json={"retryAfter": 120}).status_code < 300
    inject(control, tenant, "security/alerts", {"title": "Impossible travel"})

    await poll(states, graphs, Collected())

    [ok] = polled(caplog, tenant)
    assert (ok["source"], ok["items"], ok["alerts"], ok["graphRequests"], ok["levelname"]) == (
        ALERTS.value, 1, 1, 1, "INFO")
    assert ok["durationMs"] > 0 and "errorCode" not in ok
    [failed] = polled(caplog, throttled)
    assert (failed["source"], failed["errorCode"], failed["levelname"]) == (ALERTS.value, "throttled", "WARNING")
    # The throttled request was sent: a failed poll reports what it cost, in the event and in the stored counts.
    assert failed["graphRequests"] == 1
    stored = [(await states.get_state(t, ALERTS))[0].counts for t in (tenant, throttled)]
    assert [(c.polls, c.failures, c.requests) for c in stored] == [(1, 0, 1), (0, 1, 1)]
