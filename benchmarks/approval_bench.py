"""Approval gate figures on the local stack: how long until the approvers are asked, and how long from the
deciding approval to the gated step acting.

Method (`LocalStack` as `make run` starts it, Azurite in memory): a playbook `[approval (1 of 2 approvers,
covers 1), disable_user]`; GATES alerts posted one at a time. For each:
- ask latency: from just before `POST /api/alerts` to the sandbox receiving the last of the two approval
  mails (the gate record is stored, each approver's link signed and mailed);
- decide latency: from just before `POST /api/approvals/{id}` (as an approver) to the sandbox receiving the
  disable request (the decision is checked and stored, the durable event raised, the orchestrator wakes,
  closes the gate, records the step and runs `disable_user`).
Both read from this machine's clock; p50, p99 and max.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import time
import uuid
from datetime import datetime

import httpx

from benchmarks.pipeline_bench import ADELE_ID, CONTOSO, graph_alert, percentile
from devhost.stack import LocalStack, StackPorts

GATES = int(os.environ.get("BENCH_GATES", "60"))
APPROVERS = ["tech1@yourmsp.com.au", "tech2@yourmsp.com.au"]


def as_approver(name: str) -> dict[str, str]:
    doc = {"claims": [{"typ": "name", "val": name}, {"typ": "roles", "val": "SECURITY_MANAGE"}]}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(doc).encode()).decode()}


def sandbox_time(call: dict) -> float:
    return datetime.fromisoformat(call["timestamp"].replace("Z", "+00:00")).timestamp()


def wait_for(sandbox: httpx.Client, since: int, found, what: str) -> tuple[list[dict], int]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        calls = sandbox.get("/_sandbox/calls", params={"since": since}).json()["value"]
        hits = found(calls)
        if hits:
            return hits, max(c["seq"] for c in calls)
        time.sleep(0.002)
    raise AssertionError(f"timed out waiting for {what}")


def both_mails(calls: list[dict]) -> list[dict]:
    sent = [c for c in calls if c["path"].endswith("/sendMail")]
    return sent if len(sent) == len(APPROVERS) else []


def measure(api: httpx.Client, sandbox: httpx.Client, token: str) -> tuple[list[float], list[float]]:
    ask, decide = [], []
    seq = max((c["seq"] for c in sandbox.get("/_sandbox/calls").json()["value"]), default=0)
    for n in range(GATES):
        before = time.time()
        [run_id] = api.post("/alerts", json=graph_alert(f"{token} {n}")).json()["alerts"][0]["runIds"]
        mails, seq = wait_for(sandbox, seq, both_mails, "the approval mails")
        ask.append((max(sandbox_time(mail) for mail in mails) - before) * 1000)
        while (waiting := api.get(f"/runs/{run_id}").json().get("waiting")) is None:
            time.sleep(0.002)
        before = time.time()
        decided = api.post(f"/approvals/{waiting['approvalId']}", json={"decision": "approve"},
                           headers=as_approver(APPROVERS[n % 2]))
        assert decided.status_code == 200, decided.text
        [disable], seq = wait_for(sandbox, seq, lambda calls: [c for c in calls if c["method"] == "PATCH"
                                                               and ADELE_ID in c["path"]], "the disable")
        decide.append((sandbox_time(disable) - before) * 1000)
        sandbox.post("/_sandbox/reset")
        seq = 0
    return ask, decide


def report(label: str, values: list[float]) -> None:
    print(f"{label}, {len(values)} gates: p50 {statistics.median(values):.1f} ms, "
          f"p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms")


def main() -> int:
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    token = f"gate{uuid.uuid4().hex[:8]}"
    with LocalStack(ports=StackPorts.free(), in_memory_storage=True) as stack, \
            httpx.Client(base_url=f"{stack.devhost_url}/api", timeout=60) as api, \
            httpx.Client(base_url=stack.sandbox_url, timeout=30) as sandbox:
        api.post("/tenants", json={"id": CONTOSO, "name": "Contoso Demo"})
        created = api.post("/playbooks", json={
            "name": "gated disable", "trigger": {"titleRegex": token},
            "actions": [{"type": "approval", "approvers": APPROVERS, "timeout": "PT10M"},
                        {"type": "disable_user"}]})
        assert created.status_code == 201, created.text
        ask, decide = measure(api, sandbox, token)
        report("ask (POST /api/alerts -> both approval mails sent)", ask)
        report("decide (POST /api/approvals/{id} -> the gated disable reaches Graph)", decide)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
