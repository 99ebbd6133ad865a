"""force_password_reset end to end on the local stack, and POST /api/runs/{id}/steps/{index}/password:
the technician gets the password once; nobody finds it in the run, the audit log, Durable's record of
the run, the sandbox's call log, storage, or the logs."""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.data.tables import TableServiceClient

from shared import passwords
from shared.store.audit import AuditLog
from shared.store.tables import Tables
from tests.api.helpers import contoso_api, principal_header, unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, graph_alert, sandbox_user, wait_for_run

pytestmark = pytest.mark.stack

KEY_SETTING = "RIPOSTE_SECRET_PASSWORD_REVEAL_KEY"


@pytest.fixture
def api(app_devhost, sandbox_server, monkeypatch):
    monkeypatch.setenv(KEY_SETTING, base64.b64encode(os.urandom(32)).decode())
    with contoso_api(app_devhost, sandbox_server) as c:
        yield c


@pytest.fixture
def tables(azurite_connection_string) -> Tables:
    return Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="test")


def reset_run(api: httpx.Client, actions: list[dict] | None = None) -> dict:
    token = unique("pw")
    created = api.post("/playbooks", json={
        "name": f"pb {token}", "actions": actions or [{"type": "force_password_reset"}],
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert created.status_code == 201, created.text
    playbook = created.json()
    try:
        accepted = api.post("/alerts", json=graph_alert(ADELE, f"alert {token}")).json()["alerts"][0]
        return wait_for_run(api, next(r for r in accepted["runIds"] if playbook["id"] in r))
    finally:
        api.delete(f"/playbooks/{playbook['id']}")


def reveal(api: httpx.Client, run_id: str, index: int | str = 0, **kwargs) -> httpx.Response:
    return api.post(f"/runs/{run_id}/steps/{index}/password", **kwargs)


def everything_stored(connection_string: str) -> str:
    """Every entity of every table in the (test) storage account, as text."""
    service = TableServiceClient.from_connection_string(connection_string)
    rows = []
    for table in service.list_tables():
        rows += [dict(e) for e in service.get_table_client(table.name).list_entities()]
    return json.dumps(rows, default=str)


def test_reveal_once_and_nowhere_else(api, app_devhost, sandbox_server, tables, azurite_connection_string, caplog):
    caplog.set_level(logging.DEBUG)
    run = reset_run(api)
    [step] = run["steps"]
    assert step["status"] == "succeeded", step
    assert step["result"]["passwordReveal"]["onlyOnce"] is True
    adele = sandbox_user(sandbox_server, ADELE[1])["_sandbox"]
    assert adele["passwordResets"] == 1 and adele["forceChangePasswordNextSignIn"] is True

    first = reveal(api, run["id"])
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    body = first.json()
    [user] = body["users"]
    password = user["password"]
    assert (user["id"], user["userPrincipalName"]) == ADELE and body["forceChangePasswordNextSignIn"] is True
    assert passwords.meets_entra_complexity(password, ADELE[1])

    second = reveal(api, run["id"])
    assert (second.status_code, second.json()["error"]["code"]) == (410, "gone")

    # Not in the run record, the audit log (run and reveals), Durable's record, the sandbox, storage or logs.
    assert password not in api.get(f"/runs/{run['id']}").text
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    events = AuditLog(tables).for_subject(day, run["id"])
    reveals = [e for e in events if e["event"] == "password.reveal"]
    assert sorted(e["details"]["outcome"] for e in reveals) == ["gone", "revealed"]
    assert {e["actor"] for e in reveals} == {"local-developer"}
    assert any(e["event"] == "playbook.execute" for e in events)
    assert password not in json.dumps(events, default=str)
    durable = httpx.get(f"{app_devhost.origin}/runtime/webhooks/durabletask/instances/{run['id']}")
    assert durable.status_code == 200 and run["id"] in durable.text and password not in durable.text
    calls = httpx.get(f"{sandbox_server.base_url}/_sandbox/calls", params={"tenantId": CONTOSO}).text
    assert '"password": "***"' in calls and password not in calls
    assert password not in everything_stored(azurite_connection_string)
    assert password not in caplog.text


def test_reveal_after_expiry_is_410(api, tables):
    run = reset_run(api)
    ticket = run["steps"][0]["result"]["passwordReveal"]["ticket"]
    table = tables(passwords.REVEALS_TABLE)
    table.update_entity({"PartitionKey": run["id"], "RowKey": ticket,
                         "expiresAt": datetime.now(UTC) - timedelta(seconds=1)})
    expired = reveal(api, run["id"])
    assert (expired.status_code, expired.json()["error"]["code"]) == (410, "expired")
    assert reveal(api, run["id"]).json()["error"]["code"] == "gone"


def test_only_security_manage_may_reveal_and_only_by_post(api):
    run = reset_run(api)
    for roles in (("PLAYBOOKS_READ",), ("PLAYBOOKS_MANAGE",)):
        denied = reveal(api, run["id"], headers=principal_header(*roles))
        assert (denied.status_code, denied.json()["error"]["code"]) == (403, "forbidden")
    assert api.get(f"/runs/{run['id']}/steps/0/password").status_code in (404, 405)
    allowed = reveal(api, run["id"], headers=principal_header("SECURITY_MANAGE"))
    assert allowed.status_code == 200  # the refusals consumed nothing


def test_no_such_run_step_or_password(api):
    run = reset_run(api, [{"type": "enable_user"}, {"type": "force_password_reset"}])
    assert reveal(api, run["id"], 0).json()["error"]["code"] == "not_found"  # not a password step
    assert reveal(api, run["id"], 7).status_code == 404
    assert reveal(api, run["id"], "x").status_code == 400
    assert reveal(api, f"ru-{'0' * 32}-{'1' * 32}").status_code == 404
    assert reveal(api, run["id"], 1).status_code == 200


def test_no_reveal_key_means_no_reset(api, sandbox_server, monkeypatch):
    monkeypatch.delenv(KEY_SETTING)
    run = reset_run(api)
    [step] = run["steps"]
    assert (step["status"], step["error"]["code"]) == ("failed", "not_configured")
    assert sandbox_user(sandbox_server, ADELE[1])["_sandbox"]["passwordResets"] == 0
    assert reveal(api, run["id"]).json()["error"]["code"] == "no_password"
