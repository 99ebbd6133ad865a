"""Graph lists records late (sandbox listing lag): each poll reads again the source's lag margin before its
watermark, so a record listed after its window was read is caught by a later poll; the records of that
overlap handed on already are not handed on again (no intake round trip) unless they changed; the state
row keeps a bounded set of them (shared/pollers/overlap.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.pollers import overlap
from shared.pollers.graph_lists import odata_datetime
from shared.sources.models import SourceConfig, SourcesConfig

from .conftest import graph_calls, inject, new_sandbox_tenant
from .test_poll_sandbox import ALERTS, MINUTE, Collected, enable, poll

pytestmark = pytest.mark.stack

LATER = MINUTE + timedelta(seconds=5)  # one interval (60 s) and a little: the source is due again


def set_lag(control, tenant_id: str, seconds: float) -> None:
    response = control.put(f"/_sandbox/tenants/{tenant_id}/listingLag", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def test_an_alert_graph_lists_late_is_caught_by_a_later_poll(store, states, graphs, control, tenant):
    enable(store, tenant, ALERTS)
    set_lag(control, tenant, 3600)  # not listed yet when the first poll reads its window
    alert = inject(control, tenant, "security/alerts", {"title": "Listed late", "severity": "high"})
    deliver = Collected()

    first = await poll(states, graphs, deliver)
    assert first.claimed == 1 and deliver.ids() == []
    state, _ = store.get_state(tenant, ALERTS)
    assert state.watermark > datetime.fromisoformat(alert["createdDateTime"])  # the first window passed it

    set_lag(control, tenant, 0)  # Graph lists it now, stamped before the watermark
    await poll(states, graphs, deliver, offset=LATER)
    assert deliver.ids() == [alert["id"]]
    await poll(states, graphs, deliver, offset=2 * LATER)
    assert deliver.ids() == [alert["id"]]  # read again in the overlap, handed on once


async def test_an_overlap_reread_is_not_handed_on_again_but_an_update_is(store, states, graphs, control, tenant):
    enable(store, tenant, ALERTS)
    alert = inject(control, tenant, "security/alerts", {"title": "Malware", "severity": "medium"})
    deliver = Collected()
    await poll(states, graphs, deliver)
    assert deliver.ids() == [alert["id"]]

    before = len(graph_calls(control, tenant))
    again = await poll(states, graphs, deliver, offset=LATER)
    assert again.claimed == 1 and deliver.ids() == [alert["id"]]  # no second intake call
    assert len(graph_calls(control, tenant)) - before == 1  # still one request for the source
    state, _ = store.get_state(tenant, ALERTS)
    assert (state.counts.items, state.counts.reread, state.counts.alerts) == (2, 1, 1)
    assert state.recent == {alert["id"]: alert["lastUpdateDateTime"]}

    response = control.patch(f"/_sandbox/tenants/{tenant}/security/alerts/{alert['id']}", json={"status": "resolved"})
    assert response.status_code == 200, response.text
    await poll(states, graphs, deliver, offset=2 * LATER)
    assert deliver.ids() == [alert["id"], alert["id"]]
    assert deliver.records[-1][2]["status"] == "resolved"  # the update still flows


async def test_the_overlap_set_is_bounded_and_past_it_intake_dedupes(store, states, graphs, control, tenant,
                                                                     monkeypatch):
    monkeypatch.setattr(overlap, "MAX_RECENT", 3)
    enable(store, tenant, ALERTS)
    injected = [inject(control, tenant, "security/alerts", {"title": f"alert {n}"}) for n in range(5)]
    deliver = Collected()
    await poll(states, graphs, deliver)
    assert sorted(deliver.ids()) == sorted(a["id"] for a in injected)

    state, _ = store.get_state(tenant, ALERTS)
    newest = sorted(injected, key=lambda a: a["lastUpdateDateTime"])[-3:]
    assert state.recent == {a["id"]: a["lastUpdateDateTime"] for a in newest}

    await poll(states, graphs, deliver, offset=LATER)
    oldest = {a["id"] for a in injected} - {a["id"] for a in newest}
    assert sorted(deliver.ids()[5:]) == sorted(oldest)  # handed on again: intake's dedupe keeps them one alert
    assert len(store.get_state(tenant, ALERTS)[0].recent) == 3


async def test_a_first_window_reads_no_overlap(store, states, graphs, control, tenant):
    enable(store, tenant, ALERTS)
    before_enabling = datetime.now(UTC) - timedelta(minutes=3)  # inside the margin, before the first window
    stamp = before_enabling.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    inject(control, tenant, "security/alerts", {"title": "old", "createdDateTime": stamp, "lastUpdateDateTime": stamp})
    deliver = Collected()

    await poll(states, graphs, deliver)
    assert deliver.ids() == []  # enabling a source does not replay what came before it
    [call] = graph_calls(control, tenant)
    assert call["query"]["$filter"].startswith("lastUpdateDateTime ge ")


def _stamped(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _late_alert_caught(store, states, graphs, control, tenant, listing_lag_seconds: int | None) -> list[str]:
    """An alert stamped 30 minutes before the source's first poll, listed by Graph only after it: whether
    the next poll's overlap reaches it."""
    store.put_config(tenant, SourcesConfig(sources={ALERTS: SourceConfig(enabled=True, interval_seconds=60)},
                                           listing_lag_seconds=listing_lag_seconds))
    set_lag(control, tenant, 3600)
    stamp = _stamped(30)
    inject(control, tenant, "security/alerts", {"title": "late", "createdDateTime": stamp, "lastUpdateDateTime": stamp})
    deliver = Collected()
    await poll(states, graphs, deliver)
    set_lag(control, tenant, 0)
    await poll(states, graphs, deliver, offset=LATER)
    return deliver.ids()


async def test_a_tenants_listing_lag_override_reaches_further_back_than_the_catalogs_margin(
        store, states, graphs, control, tenant):
    assert await _late_alert_caught(store, states, graphs, control, tenant, None) == []  # 10 minutes: passed for good
    other = new_sandbox_tenant(control)
    assert len(await _late_alert_caught(store, states, graphs, control, other, 3600)) == 1
    state, _ = store.get_state(other, ALERTS)
    [*_, call] = graph_calls(control, other)
    start = datetime.fromisoformat(call["query"]["$filter"].split(" ge ")[1].split(" and ")[0])
    assert state.watermark - start >= timedelta(hours=1) - LATER  # read from an hour before the last watermark


async def test_a_listing_lag_override_of_zero_reads_no_overlap(store, states, graphs, control, tenant):
    store.put_config(tenant, SourcesConfig(sources={ALERTS: SourceConfig(enabled=True, interval_seconds=60)},
                                           listing_lag_seconds=0))
    deliver = Collected()
    await poll(states, graphs, deliver)
    watermark = store.get_state(tenant, ALERTS)[0].watermark
    await poll(states, graphs, deliver, offset=LATER)
    [*_, call] = graph_calls(control, tenant)
    assert call["query"]["$filter"].startswith(f"lastUpdateDateTime ge {odata_datetime(watermark)} ")
