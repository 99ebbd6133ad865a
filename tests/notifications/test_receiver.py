"""What a notification may do (shared/notifications/receiver.py), on a store in Azurite: a verified one
makes its tenant's alerts_v2 due now and nothing else; anything unverified changes nothing."""

from __future__ import annotations

import base64
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.notifications.client_state import client_state, matches, notification_key
from shared.notifications.receiver import NotificationBatch, echoable_token, handle_changes, handle_lifecycle
from shared.pollers.cycle import due_candidates
from shared.settings import load_settings
from shared.sources.catalog import SourceName
from shared.sources.models import SourceCounts, SourceError, SourcesConfig, SourceState, SubscriptionState
from shared.store.tables import put_json

KEY = b"k" * 32
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ALERTS = SourceName.ALERTS_V2
SUB = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"


def note(tenant: str, *, state: str | None = None, sub: str = SUB, **extra) -> dict:
    body = {"subscriptionId": sub, "tenantId": tenant, "clientState": state or client_state(KEY, tenant),
            "changeType": "created", "resource": "security/alerts_v2/da637", "id": "n1",
            "subscriptionExpirationDateTime": "2026-12-06T12:00:00Z",
            "resourceData": {"@odata.type": "#microsoft.graph.security.alert", "id": "da637"}}
    return body | extra


@pytest.fixture
def tenant(store) -> str:
    """A tenant polled a minute ago (next poll in an hour) with a current subscription."""
    tenant_id = str(uuid.uuid4())
    polled = SourceState(watermark=NOW - timedelta(minutes=1), last_attempt_at=NOW - timedelta(minutes=1),
                         next_due_at=NOW + timedelta(hours=1), counts=SourceCounts(polls=1))
    assert store._write(tenant_id, ALERTS, polled, None)
    store.put_subscription(tenant_id, ALERTS, SubscriptionState(id=SUB, expires_at=NOW + timedelta(days=2)))
    return tenant_id


def test_client_state_is_per_tenant_and_key_and_checked_exactly():
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert client_state(KEY, a) == client_state(KEY, a.upper()) != client_state(KEY, b)
    assert client_state(KEY, a) != client_state(b"x" * 32, a)
    assert len(client_state(KEY, a)) <= 128
    assert matches(KEY, a, client_state(KEY, a))
    assert not matches(KEY, a, client_state(KEY, a)[:-1]) and not matches(KEY, a, None) and not matches(KEY, a, "")


def test_the_key_is_a_deployment_secret():
    encoded = base64.b64encode(KEY).decode()
    assert notification_key({"RIPOSTE_SECRET_GRAPH_NOTIFICATION_KEY": encoded}) == KEY
    with pytest.raises(ValueError, match="at least 32"):
        notification_key({"RIPOSTE_SECRET_GRAPH_NOTIFICATION_KEY": base64.b64encode(b"short").decode()})


def test_validation_tokens_are_echoed_only_when_plain():
    graph = "Validation: Testing client application reachability for subscription Request-Id: 3b3c8a3e"
    assert echoable_token(graph) == graph
    for bad in ("", "x" * 1025, "<script>\n", "tok\x00en", "jeton-é"):
        assert echoable_token(bad) is None


def test_a_verified_change_makes_the_source_due_now(store, tenant):
    handled = handle_changes(NotificationBatch.model_validate({"value": [note(tenant), note(tenant)]}),
                             store, KEY, NOW)
    assert (handled.accepted, handled.ignored, handled.due) == (2, [], [tenant])  # polled now, once
    state, _ = store.get_state(tenant, ALERTS)
    assert state.next_due_at == NOW and state.due(NOW, timedelta(hours=1))
    assert state.watermark == NOW - timedelta(minutes=1)  # the poll reads from where it was


@pytest.mark.parametrize(("case", "reason"), [
    ("wrong clientState", "clientState does not verify"),
    ("another tenant's clientState", "clientState does not verify"),
    ("unknown subscription", "unknown subscription"),
    ("no key", "no graph-notification-key configured"),
    ("another resource", "not an alerts_v2 resource"),
])
def test_an_unverified_notification_changes_nothing(store, tenant, case, reason):
    body = {"wrong clientState": note(tenant, state="guess"),
            "another tenant's clientState": note(tenant, state=client_state(KEY, str(uuid.uuid4()))),
            "unknown subscription": note(tenant, sub=str(uuid.uuid4())),
            "no key": note(tenant),
            "another resource": note(tenant, resource="users/123")}[case]
    before = store.get_state(tenant, ALERTS)
    handled = handle_changes(NotificationBatch.model_validate({"value": [body]}), store,
                             None if case == "no key" else KEY, NOW)
    assert (handled.accepted, handled.ignored, handled.due) == (0, [reason], [])
    assert store.get_state(tenant, ALERTS) == before  # not even rewritten


async def test_a_poll_in_flight_or_a_backoff_is_left_alone(store, states, tenant):
    state, etag = store.get_state(tenant, ALERTS)
    claim = await states.try_claim(tenant, ALERTS, state.model_copy(update={"next_due_at": None}), etag,
                                   owner="t", now=NOW, interval=timedelta(hours=1))
    assert claim is not None
    assert store.mark_due(tenant, ALERTS, now=NOW + timedelta(seconds=1)) is False
    assert store.get_state(tenant, ALERTS)[1] == claim.etag  # the poller keeps its claim
    await states.record_failure(claim, error=SourceError(at=NOW, code="throttled", reason="429"),
                                retry_at=NOW + timedelta(minutes=10))
    failed = store.get_state(tenant, ALERTS)
    assert store.mark_due(tenant, ALERTS, now=NOW + timedelta(seconds=2)) is False
    assert store.get_state(tenant, ALERTS) == failed


def test_lifecycle_events(store, tenant):
    def send(event: str):
        return handle_lifecycle(NotificationBatch.model_validate({"value": [
            {"subscriptionId": SUB, "tenantId": tenant, "clientState": client_state(KEY, tenant),
             "lifecycleEvent": event, "subscriptionExpirationDateTime": "2026-12-06T12:00:00Z"}]}), store, KEY, NOW)

    assert send("missed").due == [tenant]
    assert store.get_state(tenant, ALERTS)[0].next_due_at == NOW  # a catch-up poll now
    assert send("reauthorizationRequired").accepted == 1
    assert store.get_subscription(tenant, ALERTS).reauthorize is True
    assert send("subscriptionRemoved").accepted == 1
    assert store.get_subscription(tenant, ALERTS).id is None  # recreated by the maintenance timer
    assert send("subscriptionRemoved").ignored == ["unknown subscription"]  # a replay finds nothing to do
    assert send("somethingElse").ignored == ["unknown lifecycleEvent"]


def test_a_forged_batch_costs_no_storage_read(store, tenant, monkeypatch):
    def no_reads(*args, **kwargs):
        raise AssertionError("read the store")

    monkeypatch.setattr(store, "get_subscription", no_reads)
    forged = NotificationBatch.model_validate({"value": [note(tenant, state="guess")] * 1_000})
    assert handle_changes(forged, store, KEY, NOW).accepted == 0


def test_the_notification_url_setting():

    assert load_settings({}).graph_notification_url is None
    assert load_settings({"RIPOSTE_GRAPH_NOTIFICATION_URL": "None"}).graph_notification_url is None
    assert load_settings({"RIPOSTE_GRAPH_NOTIFICATION_URL": "https://f.example/"}).graph_notification_url == \
        "https://f.example"


async def test_a_notification_during_a_poll_makes_the_next_tick_poll_again(store, states, tenant):

    store.put_config(tenant, SourcesConfig.model_validate({"sources": {"alerts_v2": {"enabled": True,
                                                                                     "intervalSeconds": 3600}}}))
    state, etag = store.get_state(tenant, ALERTS)
    claim = await states.try_claim(tenant, ALERTS, state.model_copy(update={"next_due_at": None}), etag,
                                   owner="t", now=NOW, interval=timedelta(hours=1))
    notified = NOW + timedelta(seconds=1)  # after the window (…, NOW] was read: the poll may miss the alert
    during = handle_changes(NotificationBatch.model_validate({"value": [note(tenant)]}), store, KEY, notified)
    assert during.accepted and during.due == []  # not polled now: the poll in flight reads again when it ends
    assert store.get_state(tenant, ALERTS)[1] == claim.etag  # the poll keeps its claim
    await states.advance_watermark(claim, now=NOW + timedelta(seconds=2))
    due = due_candidates({tenant: (await states.snapshot())[tenant]}, NOW + timedelta(seconds=5))
    assert [c[0] for c in due[tenant]] == [ALERTS]  # due again at once, not in an hour
    # Polled after the notification: the nudge is spent.
    [candidate] = due[tenant]
    second = await states.claim_many(tenant, [candidate], owner="t", now=NOW + timedelta(seconds=5))
    await states.advance_watermark(second[0], now=NOW + timedelta(seconds=6))
    assert due_candidates({tenant: (await states.snapshot())[tenant]}, NOW + timedelta(seconds=7)) == {}


async def test_a_notification_during_a_poll_of_a_due_source_is_nudged_not_lost(store, states, tenant):
    """The usual case: a poll claims a source because it is due, so while it reads, the source still looks
    due. A notification then must leave a nudge (the window read may end before the alert), not count the
    source as due already (which would leave the alert to the next interval)."""
    assert handle_changes(NotificationBatch.model_validate({"value": [note(tenant)]}), store, KEY, NOW).due
    state, etag = store.get_state(tenant, ALERTS)
    claim = await states.try_claim(tenant, ALERTS, state, etag, owner="t", now=NOW + timedelta(seconds=1),
                                   interval=timedelta(hours=1))
    assert claim is not None and claim.state.next_due_at == NOW  # due, and held

    during = handle_changes(NotificationBatch.model_validate({"value": [note(tenant)]}), store, KEY,
                            NOW + timedelta(seconds=2))

    assert (during.accepted, during.due) == (1, [])
    assert store.get_state(tenant, ALERTS)[1] == claim.etag  # the poll keeps its claim
    assert await states.nudged_at(tenant, ALERTS) == NOW + timedelta(seconds=2)


class _TimerWritesBetweenReadAndWrite:
    """The Sources table as the receiver sees it while the maintenance timer renews the subscription: right
    after the receiver's second read of the row (the one it modifies), the timer writes a renewed expiry."""

    def __init__(self, table, renewed: SubscriptionState):
        self._table, self._renewed, self._reads = table, renewed, 0

    def __getattr__(self, name):
        return getattr(self._table, name)

    def get_entity(self, partition_key, row_key, **kwargs):
        entity = self._table.get_entity(partition_key, row_key, **kwargs)
        if row_key.startswith("subscription-"):
            self._reads += 1
            if self._reads == 2:
                row = {"PartitionKey": partition_key, "RowKey": row_key}
                self._table.upsert_entity(put_json(row, "doc", self._renewed.model_dump(mode="json", by_alias=True)))
        return entity


def test_a_lifecycle_flag_and_a_renewal_written_at_once_both_stand(store, tenant, monkeypatch):
    renewed = SubscriptionState(id=SUB, expires_at=NOW + timedelta(days=3), renewed_at=NOW)
    table = _TimerWritesBetweenReadAndWrite(store._tables("Sources"), renewed)
    monkeypatch.setattr(store, "_tables", lambda name: table)
    handled = handle_lifecycle(NotificationBatch.model_validate({"value": [
        {"subscriptionId": SUB, "tenantId": tenant, "clientState": client_state(KEY, tenant),
         "lifecycleEvent": "reauthorizationRequired"}]}), store, KEY, NOW)
    assert handled.accepted == 1 and table._reads >= 2
    row = store.get_subscription(tenant, ALERTS)
    assert row.reauthorize is True  # the notification's flag
    assert row.expires_at == renewed.expires_at and row.renewed_at == NOW  # and the timer's renewal


def test_concurrent_subscription_row_updates_lose_nothing(store, tenant):
    def bump(row: SubscriptionState | None) -> SubscriptionState:
        return row.model_copy(update={"expires_at": row.expires_at + timedelta(seconds=1)})

    def writer() -> None:
        # Six writers at once is far more contention than production's two (timer, lifecycle): enough
        # attempts that a writer starved on a loaded machine still lands, so only a lost update fails this.
        for _ in range(5):
            store.update_subscription(tenant, ALERTS, bump, attempts=100)

    start = store.get_subscription(tenant, ALERTS).expires_at
    with ThreadPoolExecutor(max_workers=6) as pool:
        for future in [pool.submit(writer) for _ in range(6)]:
            future.result()
    assert store.get_subscription(tenant, ALERTS).expires_at == start + timedelta(seconds=30)
