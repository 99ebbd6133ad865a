"""The approvals management API on the in-process devhost: SECURITY_MANAGE to list, read and decide; deciding
also needs the caller to be one of the gate's approvers, with the link's rules (single use, deadline, status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.approvals.gates import close_gate
from shared.approvals.records import Decision
from tests.api.helpers import principal_header
from tests.approvals.factories import APPROVERS, record
from tests.approvals.http_helpers import start_probe, wait_for_output

pytestmark = pytest.mark.stack
LEAD, MANAGER = APPROVERS
# A decision is answered alike under both paths (triggers/automation.py).
DECIDE = pytest.mark.parametrize("decide", ["/approvals", "/automation/approvals"])


def api(host, *roles: str, name: str = LEAD) -> httpx.Client:
    return httpx.Client(base_url=f"{host.origin}/api", headers=principal_header(*roles, name=name), timeout=20)


def stored(store, **kwargs):
    rec, _ = store.create(record(**kwargs))
    return rec


def test_list_and_get(app_devhost, store, audit):
    pending, done = stored(store), stored(store)
    close_gate(store, done.id, "rejected", [], datetime.now(UTC), audit=audit)
    with api(app_devhost, "SECURITY_MANAGE") as c:
        listed = c.get("/approvals")
        assert listed.status_code == 200, listed.text
        ids = {r["id"] for r in listed.json()["value"]}
        assert pending.id in ids and done.id not in ids
        assert done.id in {r["id"] for r in c.get("/approvals", params={"status": "rejected"}).json()["value"]}
        bad = c.get("/approvals", params={"status": "open"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "status"
        got = c.get(f"/approvals/{pending.id}")
        assert got.status_code == 200
        body = got.json()
        assert body["runId"] == pending.run_id and body["status"] == "pending" and body["approvers"] == APPROVERS
        assert body["covered"][0]["wouldDo"].startswith("Would disable") and body["covered"][0]["destructive"]
        assert c.get("/approvals/ap-" + "0" * 32).status_code == 404
        assert c.get("/approvals/not-an-id").status_code == 404


@pytest.mark.parametrize("roles", [(), ("PLAYBOOKS_READ",), ("PLAYBOOKS_MANAGE",)])
def test_only_security_manage_may_use_it(app_devhost, production_settings, store, roles):
    rec = stored(store)
    headers = principal_header(*roles, name=LEAD) if roles else {}
    with httpx.Client(base_url=f"{app_devhost.origin}/api", headers=headers, timeout=20) as c:
        expected = 401 if not roles else 403
        assert c.get("/approvals").status_code == expected
        assert c.get(f"/approvals/{rec.id}").status_code == expected
        assert c.post(f"/approvals/{rec.id}", json={"decision": "approve"}).status_code == expected
    assert store.get(rec.id).decisions == []


@DECIDE
def test_a_security_manager_who_is_not_an_approver_cannot_decide(app_devhost, store, decide):
    rec = stored(store)
    with api(app_devhost, "SECURITY_MANAGE", name="someone.else@yourmsp.example") as c:
        response = c.post(f"{decide}/{rec.id}", json={"decision": "approve"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_an_approver"
    assert "not an approver of this gate" in response.json()["error"]["message"]
    assert store.get(rec.id).decisions == []


@DECIDE
def test_an_approver_decides_through_the_api_once(gate_devhost, store, decide):
    rec = stored(store)
    status_url = start_probe(gate_devhost, rec.run_id, index=rec.step_index)
    with api(gate_devhost, "SECURITY_MANAGE", name=LEAD.upper()) as c:  # names compare case-insensitively
        bad = c.post(f"{decide}/{rec.id}", json={"decision": "yes"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "decision"
        long = c.post(f"{decide}/{rec.id}", json={"decision": "approve", "comment": "x" * 501})
        assert long.status_code == 400 and long.json()["error"]["field"] == "comment"
        done = c.post(f"{decide}/{rec.id}", json={"decision": "approve", "comment": "ok"},
                      headers={"X-Client-IP": "198.51.100.7"})
        assert done.status_code == 200, done.text
        assert done.json()["decision"]["via"] == "api" and done.json()["decision"]["approver"] == LEAD
        assert done.json()["needed"] is True
        again = c.post(f"{decide}/{rec.id}", json={"decision": "reject"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"
    [payload] = wait_for_output(status_url)["decisions"]
    assert (payload["approver"], payload["decision"], payload["via"]) == (LEAD, "approve", "api")
    decision = store.get(rec.id).decision_of(LEAD)
    assert decision is not None and decision.address == "198.51.100.7" and decision.comment == "ok"


@DECIDE
def test_closed_or_expired_gates_are_410_and_an_unreachable_run_503(app_devhost, store, audit, decide):
    closed, expired, unreachable = stored(store), stored(store, deadline=datetime.now(UTC) - timedelta(seconds=1)), \
        stored(store)
    close_gate(store, closed.id, "approved", [], datetime.now(UTC), audit=audit)
    with api(app_devhost, "SECURITY_MANAGE", name=MANAGER) as c:
        assert c.post(f"{decide}/{closed.id}", json={"decision": "approve"}).status_code == 410
        assert c.post(f"{decide}/{expired.id}", json={"decision": "approve"}).status_code == 410
        failed = c.post(f"{decide}/{unreachable.id}", json={"decision": "approve"})
        assert failed.status_code == 503 and failed.json()["error"]["code"] == "run_unreachable"
    for rec in (closed, expired, unreachable):
        assert store.get(rec.id).decisions == []


def test_a_decision_after_the_outcome_is_kept_not_counted_and_not_needed(app_devhost, store):
    rec = stored(store, required=1)
    store.claim(rec.id, Decision(approver=LEAD, decision="approve", at=datetime.now(UTC), via="link"))
    # No run exists: a decision that had to reach it would be 503. This one is not needed, so none is raised.
    with api(app_devhost, "SECURITY_MANAGE", name=MANAGER) as c:
        late = c.post(f"/approvals/{rec.id}", json={"decision": "reject"})
    assert late.status_code == 200, late.text
    assert late.json()["needed"] is False
    kept = store.get(rec.id).decision_of(MANAGER)
    assert kept is not None and kept.decision == "reject" and kept.counted is False
