"""Polling cycles against the Graph sandbox through msgraph-sdk (issue 11, items 1 and 3): windows read
with $filter/$top and every nextLink, one request for a quiet source, updates re-read, throttling and
revoked consent recorded per tenant without holding the others, one poller per window."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient

from shared.pollers import cycle, graph_lists
from shared.pollers.graph_lists import ListQuery
from shared.pollers.poll import poll_tenant
from shared.pollers.prompt import poll_now
from shared.sources.catalog import SourceName
from shared.sources.models import SourceConfig, SourceCounts, SourcesConfig, SourceState, SubscriptionState
from shared.store.poll_states import PollStates
from shared.store.sources import SourceStore
from tests.table_limits import StrictAsyncTables, StrictTables

from .conftest import graph_calls, inject, new_sandbox_tenant

pytestmark = pytest.mark.stack

ALERTS = SourceName.ALERTS_V2
MINUTE = timedelta(minutes=1)


class Collected:
    """A delivery that keeps what it is handed (intake's place in these tests)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, SourceName, dict]] = []

    async def __call__(self, tenant_id: str, source: SourceName, record: dict) -> int:
        self.records.append((tenant_id, source, record))
        return 1

    def ids(self, source: SourceName = ALERTS) -> list[str]:
        return [r["id"] for _, s, r in self.records if s is source]


def enable(store, tenant_id: str, *sources: SourceName, interval: int = 60) -> None:
    store.put_config(tenant_id, SourcesConfig(sources={s: SourceConfig(enabled=True, interval_seconds=interval)
                                                       for s in sources}))


def clock(offset: timedelta = timedelta(0)):
    return lambda: datetime.now(UTC) + offset


async def poll(states, graphs, deliver, offset=timedelta(0), owner="poller-a"):
    return await cycle.run_cycle(states, graphs, deliver, owner=owner, now=clock(offset), rng=random.Random(7))


async def test_new_alert_is_delivered_and_a_quiet_poll_is_one_request(store, states, graphs, control, tenant):
    enable(store, tenant, ALERTS)
    alert = inject(control, tenant, "security/alerts", {"title": "Impossible travel", "severity": "high"})
    deliver = Collected()

    report = await poll(states, graphs, deliver)
    assert (report.due, report.claimed, report.failures) == (1, 1, 0)
    assert deliver.ids() == [alert["id"]]
    assert deliver.records[0][0] == tenant  # the polled tenant
    state, _ = store.get_state(tenant, ALERTS)
    assert state.watermark is not None and state.counts.alerts == 1 and state.claim is None

    again = await poll(states, graphs, deliver)  # not due before its interval
    assert again.claimed == 0

    before = len(graph_calls(control, tenant))
    quiet = await poll(states, graphs, deliver, offset=MINUTE + timedelta(seconds=5))
    calls = graph_calls(control, tenant)[before:]
    assert quiet.claimed == 1 and len(deliver.records) == 1  # nothing new, nothing handed on
    assert [(c["method"], c["path"]) for c in calls] == [("GET", "/v1.0/security/alerts_v2")]
    assert "lastUpdateDateTime ge" in calls[0]["query"]["$filter"]


async def test_an_update_is_read_again_in_the_next_window(store, states, graphs, control, tenant):
    enable(store, tenant, ALERTS)
    alert = inject(control, tenant, "security/alerts", {"title": "Malware", "severity": "medium"})
    deliver = Collected()
    await poll(states, graphs, deliver)
    response = control.patch(f"/_sandbox/tenants/{tenant}/security/alerts/{alert['id']}",
                             json={"status": "resolved", "severity": "high"})
    assert response.status_code == 200, response.text

    await poll(states, graphs, deliver, offset=MINUTE + timedelta(seconds=5))
    assert deliver.ids() == [alert["id"], alert["id"]]
    assert deliver.records[1][2]["status"] == "resolved" and deliver.records[1][2]["severity"] == "high"


async def test_every_page_is_followed(store, states, graphs, control, tenant, monkeypatch):
    monkeypatch.setitem(graph_lists.QUERIES, ALERTS, ListQuery("security/alerts_v2", top=2))
    enable(store, tenant, ALERTS)
    injected = [inject(control, tenant, "security/alerts", {"title": f"alert {n}"})["id"] for n in range(5)]
    deliver = Collected()

    report = await poll(states, graphs, deliver)
    assert sorted(deliver.ids()) == sorted(injected)
    assert report.requests == 3 and len(graph_calls(control, tenant)) == 3


async def test_incidents_risk_detections_and_risky_users_are_polled(store, states, graphs, control, tenant):
    enable(store, tenant, SourceName.INCIDENTS, SourceName.RISK_DETECTIONS, SourceName.RISKY_USERS)
    incident = inject(control, tenant, "security/incidents",
                      {"displayName": "Multi-stage attack", "alerts": [{"title": "Phish", "severity": "high"}]})
    detection = inject(control, tenant, "riskDetections",
                       {"userId": f"kim@t{tenant[:8]}.onmicrosoft.com", "riskLevel": "high",
                        "riskEventType": "anonymizedIPAddress", "riskState": "atRisk"})
    deliver = Collected()

    report = await poll(states, graphs, deliver)
    assert report.claimed == 3 and report.failures == 0
    delivered = {s: r for _, s, r in deliver.records}
    assert delivered[SourceName.INCIDENTS]["id"] == incident["id"]
    assert [a["title"] for a in delivered[SourceName.INCIDENTS]["alerts"]] == ["Phish"]  # $expand=alerts
    assert delivered[SourceName.RISK_DETECTIONS]["id"] == detection["id"]
    assert delivered[SourceName.RISKY_USERS]["riskLevel"] == "high"  # the detection raised the user's risk


async def test_throttling_and_revoked_consent_are_recorded_per_tenant(store, states, graphs, control, tenant):
    throttled, refused = new_sandbox_tenant(control), new_sandbox_tenant(control)
    for tid in (tenant, throttled, refused):
        enable(store, tid, ALERTS)
    assert control.post(f"/_sandbox/tenants/{throttled}/throttle", json={"retryAfter": 120}).status_code < 300
    assert control.post(f"/_sandbox/tenants/{refused}/revokeConsent", json={"status": 403}).status_code < 300
    healthy_alert = inject(control, tenant, "security/alerts", {"title": "still seen"})
    deliver = Collected()
    started = datetime.now(UTC)

    report = await poll(states, graphs, deliver)
    assert report.claimed == 3 and report.failures == 2
    assert deliver.ids() == [healthy_alert["id"]]  # the others did not hold it

    state, _ = store.get_state(throttled, ALERTS)
    assert (state.last_error.code, state.last_error.status) == ("throttled", 429)
    assert state.next_due_at >= started + timedelta(seconds=120)  # Graph's Retry-After, not the interval
    assert len(graph_calls(control, throttled)) == 1  # no retry inside the poll: the tenant is backed off
    state, _ = store.get_state(refused, ALERTS)
    assert (state.last_error.code, state.last_error.status) == ("consent_revoked", 403)
    assert state.next_due_at >= started + timedelta(minutes=30)  # retried slowly
    assert state.watermark is not None  # the failed window is read again later, not skipped

    deliver = Collected()
    later = await poll(states, graphs, deliver, offset=MINUTE + timedelta(seconds=5))
    assert {o.tenant_id for o in later.outcomes} == {tenant}  # the failed ones wait for their retry time


async def test_two_pollers_never_poll_the_same_window(store, states, graphs, control, tenant):
    enable(store, tenant, ALERTS)
    alert = inject(control, tenant, "security/alerts", {"title": "once"})
    deliver = Collected()

    first, second = await asyncio.gather(poll(states, graphs, deliver, owner="a"),
                                         poll(states, graphs, deliver, owner="b"))
    assert first.claimed + second.claimed == 1
    assert deliver.ids() == [alert["id"]]
    assert len(graph_calls(control, tenant)) == 1


def test_every_catalog_source_is_polled():
    assert set(cycle.POLLED) == set(SourceName)


async def test_a_device_turning_noncompliant_opens_an_alert_and_turning_back_resolves_it(
        store, states, graphs, control, tenant):
    enable(store, tenant, SourceName.MANAGED_DEVICES)
    response = control.post(f"/_sandbox/intune/tenants/{tenant}/managedDevices",
                            json={"userId": f"kim@t{tenant[:8]}.onmicrosoft.com", "deviceName": "KIM-LT-01"})
    assert response.status_code == 201, response.text
    device_id = response.json()["id"]
    deliver = Collected()

    def drift(state: str) -> None:
        changed = control.patch(f"/_sandbox/intune/tenants/{tenant}/managedDevices/{device_id}",
                                json={"complianceState": state})
        assert changed.status_code == 200, changed.text

    async def poll_at(minutes: int) -> list[dict]:
        before = len(deliver.records)
        report = await poll(states, graphs, deliver, offset=minutes * (MINUTE + timedelta(seconds=5)))
        assert report.claimed == 1 and report.failures == 0 and report.requests == 1
        return [r for _, _, r in deliver.records[before:]]

    assert await poll_at(0) == []  # compliant: nothing
    drift("noncompliant")
    [opened] = await poll_at(1)
    assert (opened["category"], opened["severity"], opened["status"]) == ("compliance", "medium", "new")
    assert opened["devices"][0]["name"] == "KIM-LT-01" and opened["users"][0]["upn"].startswith("kim@")
    assert await poll_at(2) == []  # still non-compliant: no intake call
    drift("compliant")
    [resolved] = await poll_at(3)
    assert (resolved["alertId"], resolved["status"]) == (opened["alertId"], "resolved")
    drift("noncompliant")
    [again] = await poll_at(4)
    assert again["alertId"] != opened["alertId"] and again["status"] == "new"  # a new episode, a new alert
    assert store.tracked_devices(tenant) == {device_id: again["alertId"]}


async def test_the_first_poll_is_a_baseline_that_raises_no_standing_noncompliance(store, states, graphs, control,
                                                                                   tenant):
    """A newly connected tenant's devices non-compliant already are tracked, not raised (no flood of
    compliance runs); one fixed and drifting again afterwards is a new episode, raised."""
    enable(store, tenant, SourceName.MANAGED_DEVICES)
    response = control.post(f"/_sandbox/intune/tenants/{tenant}/managedDevices",
                            json={"userId": f"kim@t{tenant[:8]}.onmicrosoft.com", "deviceName": "KIM-LT-02",
                                  "complianceState": "noncompliant"})
    assert response.status_code == 201, response.text
    device_id = response.json()["id"]
    deliver = Collected()

    def drift(state: str) -> None:
        changed = control.patch(f"/_sandbox/intune/tenants/{tenant}/managedDevices/{device_id}",
                                json={"complianceState": state})
        assert changed.status_code == 200, changed.text

    first = await poll(states, graphs, deliver)
    assert (first.claimed, first.failures) == (1, 0) and deliver.records == []
    state, _ = store.get_state(tenant, SourceName.MANAGED_DEVICES)
    assert store.tracked_devices(tenant) == {device_id: ""} and state.counts.items == 1
    drift("compliant")
    await poll(states, graphs, deliver, offset=MINUTE + timedelta(seconds=5))
    assert deliver.records == []  # no alert was opened, so none is resolved
    drift("noncompliant")
    await poll(states, graphs, deliver, offset=2 * (MINUTE + timedelta(seconds=5)))
    [opened] = [r for _, _, r in deliver.records]
    assert (opened["status"], opened["devices"][0]["name"]) == ("new", "KIM-LT-02")


async def test_a_source_due_before_the_next_tick_is_polled_at_this_one(store, states, graphs, control, tenant):
    """Otherwise polls drift to interval + tick apart (5 s interval, 5 s timer: every 10 s)."""
    enable(store, tenant, ALERTS)
    deliver = Collected()
    await poll(states, graphs, deliver)
    state, _ = store.get_state(tenant, ALERTS)
    almost = state.next_due_at - datetime.now(UTC) - timedelta(seconds=1)  # 1 s before it is due
    assert (await poll(states, graphs, deliver, offset=almost)).claimed == 1
    assert (await poll(states, graphs, deliver, offset=almost + MINUTE - 4 * cycle.DUE_SLACK)).claimed == 0


async def test_a_source_notified_during_its_poll_is_polled_again_at_once(store, states, graphs, control, tenant):

    enable(store, tenant, ALERTS, interval=3600)
    claim = await states.claim_window(tenant, ALERTS, owner="poller-a", now=datetime.now(UTC),
                                      interval=timedelta(hours=1))
    # Created after the claimed window ended, notified while the poll holds the source: a nudge.
    alert = inject(control, tenant, "security/alerts", {"title": "Created during the poll", "severity": "high"})
    assert store.mark_due(tenant, ALERTS, now=datetime.now(UTC)) is False
    store.nudge(tenant, ALERTS, now=datetime.now(UTC))
    deliver = Collected()

    outcomes = await poll_tenant(states, graphs, [claim], deliver, clock(), random.Random(7))

    assert deliver.ids() == [alert["id"]]  # read by a second poll, not an hour (or a tick) later
    assert [o.items for o in outcomes] == [0, 1]
    state = store.get_state(tenant, ALERTS)[0]
    assert state.counts.polls == 2 and state.claim is None
    # Spent: the next poll (an hour away) is not hurried, and polling again makes no third poll.
    assert state.next_due_at > datetime.now(UTC) + timedelta(minutes=59)


async def test_a_notification_after_the_advance_does_not_stop_the_poll_again(store, states, graphs, control,
                                                                              tenant):
    """The poll claims the notified window again on the row as its advance wrote it; a second notification
    that made the source due in between changed that row, so the poll reads it again and still claims."""

    enable(store, tenant, ALERTS, interval=3600)
    claim = await states.claim_window(tenant, ALERTS, owner="poller-a", now=datetime.now(UTC),
                                      interval=timedelta(hours=1))
    alert = inject(control, tenant, "security/alerts", {"title": "Created during the poll", "severity": "high"})
    store.nudge(tenant, ALERTS, now=datetime.now(UTC))

    class NotifiedAgain(PollStates):
        async def nudged_at(self, tenant_id, source):
            assert store.mark_due(tenant_id, source, now=datetime.now(UTC))  # after the advance, before the claim
            return await super().nudged_at(tenant_id, source)

    deliver = Collected()
    outcomes = await poll_tenant(NotifiedAgain(states._tables), graphs, [claim], deliver, clock(), random.Random(7))

    assert deliver.ids() == [alert["id"]] and [o.items for o in outcomes][:2] == [0, 1]
    assert store.get_state(tenant, ALERTS)[0].claim is None


async def test_a_notified_tenant_is_polled_now_once_and_only_if_due(store, states, graphs, control, tenant):

    enable(store, tenant, ALERTS, interval=3600)
    deliver = Collected()
    assert (await poll(states, graphs, deliver)).claimed == 1  # the first window: next poll in an hour
    alert = inject(control, tenant, "security/alerts", {"title": "Notified", "severity": "high"})
    assert await poll_now(states, graphs, deliver, tenant, owner="prompt") == []  # not due: no notification yet

    assert store.mark_due(tenant, ALERTS, now=datetime.now(UTC))  # what the notification does
    [outcome] = await poll_now(states, graphs, deliver, tenant, owner="prompt")

    assert (outcome.items, deliver.ids()) == (1, [alert["id"]])
    assert await poll_now(states, graphs, deliver, tenant, owner="prompt") == []  # polled: not due again
    enable(store, tenant, SourceName.INCIDENTS)  # alerts_v2 off
    assert store.mark_due(tenant, ALERTS, now=datetime.now(UTC))
    assert await poll_now(states, graphs, deliver, tenant, owner="prompt") == []


async def test_a_window_that_takes_long_to_deliver_stays_with_its_poller(store, states, graphs, control, tenant):

    enable(store, tenant, ALERTS)
    for n in range(3):
        inject(control, tenant, "security/alerts", {"title": f"Slow intake {n}", "severity": "high"})
    at = [datetime.now(UTC)]
    claim = await states.claim_window(tenant, ALERTS, owner="poller-a", now=at[0], interval=MINUTE)
    rivals = []

    async def busy_intake(tenant_id: str, source: SourceName, record: dict) -> int:
        at[0] += timedelta(minutes=3)  # a busy instance: the lease (5 minutes) would run out at the second
        rivals.append(await states.claim_window(tenant, ALERTS, owner="poller-b", now=at[0], interval=MINUTE))
        return 1

    [outcome] = await poll_tenant(states, graphs, [claim], busy_intake, lambda: at[0], random.Random(7))

    assert rivals == [None, None, None]  # the lease was extended: no other poller read the window again
    assert (outcome.error, outcome.alerts) == (None, 3)
    state = store.get_state(tenant, ALERTS)[0]
    assert (state.counts.polls, state.claim, state.watermark) == (1, None, claim.window_end)


async def test_thousands_of_noncompliant_devices_fit_azures_table_limits(azurite_connection_string, graphs, control,
                                                                         tenant):
    """5,000 devices turning non-compliant at once: one alert each, all tracked (a row each, written in
    transactions), and no entity or property over Azure's limits (StrictTables refuses what Azure would);
    one turning compliant resolves exactly its alert."""
    prefix = "p" + uuid.uuid4().hex[:12]
    store = SourceStore(StrictTables(TableServiceClient.from_connection_string(azurite_connection_string),
                                     prefix=prefix))
    strict = StrictAsyncTables.from_connection_string(azurite_connection_string, prefix=prefix)
    states = PollStates(strict)
    enable(store, tenant, SourceName.MANAGED_DEVICES)
    deliver = Collected()
    assert (await poll(states, graphs, deliver)).failures == 0  # the baseline: no device yet
    count = 5_000
    ids = []
    for n in range(count):
        response = control.post(f"/_sandbox/intune/tenants/{tenant}/managedDevices",
                                json={"userId": f"kim@t{tenant[:8]}.onmicrosoft.com", "deviceName": f"LT-{n:05}",
                                      "complianceState": "noncompliant"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    report = await poll(states, graphs, deliver, offset=MINUTE + timedelta(seconds=5))
    assert (report.claimed, report.failures) == (1, 0)
    opened = {r["devices"][0]["id"]: r["alertId"] for _, _, r in deliver.records if r["status"] == "new"}
    assert len(deliver.records) == count and set(opened) == set(ids)
    assert store.tracked_devices(tenant) == opened
    state, _ = store.get_state(tenant, SourceName.MANAGED_DEVICES)
    assert state.tracked == {} and state.counts.alerts == count

    fixed = control.patch(f"/_sandbox/intune/tenants/{tenant}/managedDevices/{ids[0]}",
                          json={"complianceState": "compliant"})
    assert fixed.status_code == 200, fixed.text
    deliver.records.clear()
    await poll(states, graphs, deliver, offset=2 * (MINUTE + timedelta(seconds=5)))
    [resolved] = [r for _, _, r in deliver.records]
    assert (resolved["alertId"], resolved["status"]) == (opened[ids[0]], "resolved")
    assert len(store.tracked_devices(tenant)) == count - 1
    await strict.close()


async def test_devices_tracked_in_the_state_before_rows_are_carried_over(store, states, graphs, control, tenant):
    """A state written by the version that kept tracked devices in one property: its devices are still
    followed (a fixed one resolves its alert), then held in rows and the property emptied."""
    enable(store, tenant, SourceName.MANAGED_DEVICES)
    response = control.post(f"/_sandbox/intune/tenants/{tenant}/managedDevices",
                            json={"userId": f"kim@t{tenant[:8]}.onmicrosoft.com", "deviceName": "KIM-LT-03",
                                  "complianceState": "noncompliant"})
    still = response.json()["id"]
    now = datetime.now(UTC)
    legacy = SourceState(watermark=now - MINUTE, last_success_at=now - MINUTE, next_due_at=now - MINUTE,
                         counts=SourceCounts(polls=1), tracked={still: "compliance:a", "gone-device": "compliance:b"})
    assert store._write(tenant, SourceName.MANAGED_DEVICES, legacy, None)
    deliver = Collected()
    assert (await poll(states, graphs, deliver)).failures == 0
    [resolved] = [r for _, _, r in deliver.records]
    assert (resolved["alertId"], resolved["status"]) == ("compliance:b", "resolved")
    assert store.tracked_devices(tenant) == {still: "compliance:a"}
    assert store.get_state(tenant, SourceName.MANAGED_DEVICES)[0].tracked == {}


async def test_only_a_subscribed_source_reads_its_nudge_after_a_poll(store, states, graphs, control, tenant):
    """A nudge needs a notification, which needs the tenant's subscription row (the receiver verifies each
    against it): a tenant without one costs no nudge read per poll; one with it still gets its nudge read."""
    subscribed = new_sandbox_tenant(control)
    for tid in (tenant, subscribed):
        enable(store, tid, ALERTS)
    store.put_subscription(subscribed, ALERTS, SubscriptionState(id=str(uuid.uuid4()),
                                                                 expires_at=datetime.now(UTC) + timedelta(days=2)))
    read = []

    class Counted(PollStates):
        async def nudged_at(self, tenant_id, source):
            read.append(tenant_id)
            return await super().nudged_at(tenant_id, source)

    report = await poll(Counted(states._tables), graphs, Collected())

    assert {o.tenant_id for o in report.outcomes} >= {tenant, subscribed}
    assert subscribed in read and tenant not in read
