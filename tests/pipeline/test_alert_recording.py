"""Recording alerts against real Table Storage (Azurite): attribution, dedupe, updates and recovery."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.alert_payloads import normalize_payload
from shared.alert_recording import AlertRecorder
from shared.matching.snapshot import MatchingCache
from shared.models.alert import AlertSource, AlertStatus, Attribution, NormalizedAlert
from shared.models.playbook import PlaybookDraft
from shared.models.run import RunStatus
from shared.models.tenant import Tenant, TenantGroup
from shared.store.alerts import AlertStore
from shared.store.directory import DirectoryStore
from shared.store.open_runs import OpenRuns
from shared.store.playbooks import PlaybookStore

T1, T2 = str(uuid.uuid4()), str(uuid.uuid4())
SUB, WORKSPACE = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture
def recorder(tables, async_tables) -> AlertRecorder:
    directory = DirectoryStore(tables)
    directory.create_tenant(Tenant(id=T1, name="One", subscription_ids=[SUB]))
    directory.create_tenant(Tenant(id=T2, name="Two", workspace_ids=[WORKSPACE]))
    directory.create_group(TenantGroup(id="vip", name="VIP", tenant_ids=[T2]))
    return AlertRecorder(async_tables, MatchingCache(tables, async_tables))


def playbook(tables, scope: dict, **trigger) -> str:
    draft = PlaybookDraft.model_validate({"name": f"pb-{uuid.uuid4().hex[:6]}", "actions": [{"type": "disable_user"}],
                                          "trigger": {"tenantScope": scope, **trigger}})
    return PlaybookStore(tables).create(draft, actor="test").id


def normalized(**changes) -> NormalizedAlert:
    base = {"source": AlertSource.GENERIC, "source_alert_id": uuid.uuid4().hex, "category": "security",
            "severity": "high", "title": "Risky sign-in", "created_at": datetime.now(UTC), "raw": {"x": 1}}
    return NormalizedAlert.model_validate(base | changes)


@pytest.mark.parametrize(
    ("changes", "endpoint", "tenant", "attribution"),
    [
        ({"tenant_id": T1, "workspace_ids": [WORKSPACE]}, None, T1, Attribution.PAYLOAD),
        ({"subscription_ids": [SUB], "workspace_ids": [WORKSPACE]}, None, T1, Attribution.SUBSCRIPTION),
        ({"workspace_ids": [WORKSPACE]}, None, T2, Attribution.WORKSPACE),
        ({}, None, None, Attribution.UNATTRIBUTED),
        # On a tenant's endpoint the URL's tenant is authoritative: subscriptions and workspaces of
        # another tenant do not move the alert there (the trigger refuses a payload naming another tenant).
        ({"tenant_id": T2}, T2, T2, Attribution.PAYLOAD),
        ({"subscription_ids": [SUB], "workspace_ids": [WORKSPACE]}, T2, T2, Attribution.TENANT_ENDPOINT),
        ({"workspace_ids": [WORKSPACE]}, T1, T1, Attribution.TENANT_ENDPOINT),
        ({"subscription_ids": [str(uuid.uuid4())]}, T2, T2, Attribution.TENANT_ENDPOINT),
        ({"tenant_id": T1}, T2, T2, Attribution.TENANT_ENDPOINT),  # never the payload's, even if not refused
        ({}, str(uuid.uuid4()), None, Attribution.UNATTRIBUTED),  # an unknown tenant in the URL
        ({"subscription_ids": [SUB]}, str(uuid.uuid4()), None, Attribution.UNATTRIBUTED),
    ],
)
async def test_attribution_order(recorder, changes, endpoint, tenant, attribution):
    result = await recorder.receive(normalized(**changes), endpoint_tenant=endpoint)
    assert (result.alert.tenant_id, result.alert.attribution) == (tenant, attribution)


async def test_scopes_decide_which_playbooks_run(tables, recorder):
    everywhere = playbook(tables, {"type": "all"})
    only_t1 = playbook(tables, {"type": "tenant", "tenantId": T1})
    vip = playbook(tables, {"type": "group", "groupId": "vip"})
    ran = lambda r: {rid.rsplit("-", 1)[1] for rid in r.run_ids}  # noqa: E731
    assert ran(await recorder.receive(normalized(tenant_id=T1))) == {everywhere, only_t1}
    assert ran(await recorder.receive(normalized(tenant_id=T2))) == {everywhere, vip}
    assert ran(await recorder.receive(normalized())) == {everywhere}  # unattributed: all-tenant playbooks only


async def test_a_new_playbook_applies_to_the_next_alert(tables, recorder):
    assert (await recorder.receive(normalized(tenant_id=T1))).run_ids == []
    pid = playbook(tables, {"type": "all"})
    assert [r.rsplit("-", 1)[1] for r in (await recorder.receive(normalized(tenant_id=T1))).run_ids] == [pid]


async def test_second_delivery_is_a_duplicate_with_the_same_runs(tables, recorder):
    playbook(tables, {"type": "all"})
    alert = normalized(tenant_id=T1)
    first = await recorder.receive(alert)
    again = await recorder.receive(alert)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.run_ids == first.run_ids
    assert again.to_start == []  # nothing is started twice


async def test_a_resolved_alert_never_fires(tables, recorder):
    playbook(tables, {"type": "all"})
    result = await recorder.receive(normalized(tenant_id=T1, status=AlertStatus.RESOLVED))
    assert result.to_start == [] and result.run_ids == []
    assert all(not d.matched for d in result.decisions)
    assert AlertStore(tables).get(result.alert.id).status is AlertStatus.RESOLVED


async def test_a_redelivery_offers_open_runs_for_an_instance_check_only_after_the_grace_period(tables, recorder):
    playbook(tables, {"type": "all"})
    alert = normalized(tenant_id=T1)
    first = await recorder.receive(alert)  # runs never started: as if the process died right here
    assert len(first.to_start) == 1
    soon = await recorder.receive(alert, now=datetime.now(UTC) + timedelta(seconds=5))
    assert soon.to_start == [] and soon.redrive == []
    later = await recorder.receive(alert, now=datetime.now(UTC) + timedelta(minutes=5))
    assert later.to_start == []  # never started blindly: the caller checks each instance first
    assert [r.id for r in later.redrive] == first.run_ids
    AlertStore(tables).set_run_status(first.run_ids[0], RunStatus.SUCCEEDED)
    after_end = await recorder.receive(alert, now=datetime.now(UTC) + timedelta(minutes=10))
    assert after_end.redrive == []


async def test_new_runs_are_listed_as_open_before_they_are_stored(tables, recorder):
    playbook(tables, {"type": "all"})
    first = await recorder.receive(normalized(tenant_id=T1))
    listed = OpenRuns(tables).opened_before(datetime.now(UTC) + timedelta(seconds=1))
    assert [(o.run_id, o.alert_id) for o in listed] == [(first.run_ids[0], first.alert.id)]


async def test_decisions_and_runs_are_stored_with_the_alert(tables, recorder):
    matched = playbook(tables, {"type": "all"})
    missed = playbook(tables, {"type": "all"}, minSeverity="critical")
    result = await recorder.receive(normalized(tenant_id=T1))
    store = AlertStore(tables)
    decisions = {d.playbook_id: d.matched for d in store.decisions(result.alert.id)}
    assert decisions == {matched: True, missed: False}
    [run] = store.runs(result.alert.id)
    assert (run.playbook_id, run.status.value, run.playbook_version) == (matched, "pending", 1)
    assert store.get(result.alert.id).raw == {"x": 1}


async def test_a_defender_incident_redelivered_with_a_new_status_is_one_alert_updated(tables, recorder):
    """An incident polled or posted again (issue 11) takes intake's duplicate path: one alert, runs once,
    its status updated."""

    playbook(tables, {"type": "all"})
    body = {"@odata.type": "#microsoft.graph.security.incident", "id": uuid.uuid4().hex[:8], "tenantId": T1,
            "displayName": "Ransomware on one endpoint", "severity": "high", "status": "active"}
    [first_alert] = normalize_payload(body)
    first = await recorder.receive(first_alert)
    [later_alert] = normalize_payload(body | {"status": "inProgress", "lastUpdateDateTime": "2026-12-04T13:00:00Z"})
    later = await recorder.receive(later_alert)
    assert (first.duplicate, later.duplicate, later.status_updated) == (False, True, True)
    assert later.alert.id == first.alert.id and later.to_start == []
    assert AlertStore(tables).get(first.alert.id).status is AlertStatus.IN_PROGRESS


@pytest.mark.parametrize("matching", [True, False])  # a transaction, or a single create (no run to start)
async def test_concurrent_deliveries_past_the_read_store_one_alert_and_start_its_runs_once(tables, recorder, matching):
    if matching:
        playbook(tables, {"type": "all"})
    alert = normalized(tenant_id=T1)
    results = await asyncio.gather(*(recorder.receive(alert) for _ in range(5)))
    assert sorted(r.duplicate for r in results) == [False, True, True, True, True]
    assert sum(len(r.to_start) for r in results) == (1 if matching else 0)
    assert {tuple(r.run_ids) for r in results} == {tuple(results[0].run_ids)}
    assert len(AlertStore(tables).runs(alert_id_of(results))) == (1 if matching else 0)


def alert_id_of(results) -> str:
    [alert_id] = {r.alert.id for r in results}
    return alert_id
