"""The console's run pages over HTTP: the list over the run-list index (filters, paging), a run's page (the step
timeline with upstream errors, what it waits for and who approves), and cancel, roll back and reveal password."""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.console.security import issue_csrf_token
from tests.api.helpers import principal_header, unique
from tests.console.helpers import XSS_TITLES, assert_escaped, console, csrf_of, eventually, form_actions
from tests.e2e.test_bec_flow import ADELE, CONTOSO, MEGAN, graph_alert, sandbox_user, wait_for_run, wait_for_status

pytestmark = pytest.mark.stack
APPROVER = "ann@yourmsp.com.au"


@pytest.fixture
def web(app_devhost):
    with console(app_devhost) as c:
        yield c


def start(api: httpx.Client, actions: list[dict], user=MEGAN, title: str = "alert") -> tuple[str, dict]:
    """An enabled playbook for a unique title, and an alert with that title: (its run id, the playbook)."""
    token = unique("cr")
    created = api.post("/playbooks", json={
        "name": f"pb {token}", "actions": actions,
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert created.status_code == 201, created.text
    accepted = api.post("/alerts", json=graph_alert(user, f"{title} {token}"))
    assert accepted.status_code == 202, accepted.text
    [run_id] = accepted.json()["alerts"][0]["runIds"]
    return run_id, created.json()


def run_ids_on(page_html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'href="/runs/(ru-[0-9a-f-m]+)"', page_html)))


def test_the_list_filters_by_playbook_status_and_time_and_pages(api, web):
    first, pb = start(api, [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}])
    wait_for_run(api, first)
    alert_id = api.get(f"/runs/{first}").json()["alertId"]
    manual = [api.post(f"/playbooks/{pb['id']}/execute", json={"alertId": alert_id}).json()["runId"]
              for _ in range(2)]
    for run_id in manual:
        wait_for_run(api, run_id)

    mine = web.get("/runs", params={"playbookId": pb["id"], "limit": "2"})
    assert mine.status_code == 200
    assert run_ids_on(mine.text) == manual[::-1]
    older = re.search(r'href="([^"]+)" rel="next"', mine.text)
    assert older, "a full page links to the older runs"
    rest = web.get(older.group(1).replace("&amp;", "&"))
    assert run_ids_on(rest.text) == [first]

    succeeded = eventually(lambda: run_ids_on(web.get("/runs", params={"playbookId": pb["id"],
                                                                       "status": "succeeded"}).text),
                           lambda ids: len(ids) == 3)
    assert sorted(succeeded) == sorted([first, *manual])
    assert run_ids_on(web.get("/runs", params={"playbookId": pb["id"], "status": "waiting"}).text) == []
    assert run_ids_on(web.get("/runs", params={"playbookId": pb["id"], "status": "failed"}).text) == []
    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    assert run_ids_on(web.get("/runs", params={"playbookId": pb["id"], "since": later}).text) == []
    assert len(run_ids_on(web.get("/runs", params={"playbookId": pb["id"], "until": later}).text)) == 3
    assert run_ids_on(web.get("/runs", params={"alertId": alert_id}).text) == [*manual[::-1], first]


def test_a_bad_filter_is_a_400_with_the_reason_at_its_field(web):
    response = web.get("/runs", params={"since": "yesterday"})
    assert response.status_code == 400
    assert 'aria-describedby="since-error" aria-invalid="true"' in response.text
    assert 'id="since-error">is an ISO 8601 date-time' in response.text
    order = web.get("/runs", params={"since": "2026-12-02T00:00", "until": "2026-12-01T00:00"})
    assert order.status_code == 400 and 'id="until-error">is later than since.' in order.text
    assert web.get("/runs", params={"status": "exploded"}).status_code == 400


def test_the_run_page_shows_each_step_with_its_upstream_error(api, web, sandbox_server):
    fault = {"method": "PATCH", "pathRegex": f"/users/{MEGAN[0]}", "status": 403, "times": 1}
    assert httpx.post(f"{sandbox_server.base_url}/_sandbox/faults", json=fault).status_code == 201
    run_id, pb = start(api, [{"type": "disable_user"}, {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
                       title=XSS_TITLES[0])
    run = wait_for_run(api, run_id)
    assert run["status"] == "completedWithErrors"
    response = web.get(f"/runs/{run_id}")
    assert response.status_code == 200
    text = response.text
    assert f"pb {pb['name'].removeprefix('pb ')}" in text and "completedWithErrors" in text
    assert "graph_forbidden" in text and run["steps"][0]["error"]["message"][:40] in text.replace("&#39;", "'")
    assert "notify_email" in text and "soc@yourmsp.com.au" in text  # what was done, in the step's result
    assert " ms<" in text or " s<" in text  # durations
    assert_escaped(text, XSS_TITLES[0])  # the alert's title links back, as text
    assert f'href="/runs/{run_id}/rollback"' in text and "/cancel" not in text
    assert form_actions(text) == []  # acting takes a confirm page first
    assert web.get("/runs/ru-" + "0" * 32 + "-" + "0" * 32).status_code == 404


def test_a_waiting_run_says_for_what_and_whom_and_can_be_cancelled(api, web):
    gate = {"type": "approval", "approvers": [APPROVER, "bob@yourmsp.com.au"], "requiredApprovals": 1,
            "timeout": "PT1H", "covers": 1}
    run_id, _ = start(api, [gate, {"type": "disable_user"}], user=ADELE)
    approval_id = wait_for_status(api, run_id, "waiting")["waiting"]["approvalId"]
    # The approvers' mails go out through Graph beside the wait: let them land in this test, not the next one's.
    notified = eventually(lambda: api.get(f"/approvals/{approval_id}").json(), lambda a: a["notificationsSent"])
    assert notified["notificationsSent"] is True
    page = web.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert "What it waits for" in page.text and APPROVER in page.text and "bob@yourmsp.com.au" in page.text
    assert "approval, until" in page.text
    assert f'href="/runs/{run_id}/cancel"' in page.text and f'href="/runs/{run_id}/rollback"' not in page.text
    confirm = web.get(f"/runs/{run_id}/cancel")
    assert confirm.status_code == 200 and "The run stops now" in confirm.text
    assert form_actions(confirm.text) == [f"/actions/runs/{run_id}/cancel"]
    assert 'name="confirm" value="yes"' in confirm.text
    listed = eventually(lambda: run_ids_on(web.get("/runs", params={"status": "waiting"}).text),
                        lambda ids: run_id in ids)
    assert run_id in listed

    assert web.post(f"/actions/runs/{run_id}/cancel", data={}).status_code == 403  # no CSRF token
    reader = principal_header("PLAYBOOKS_READ")
    assert web.post(f"/actions/runs/{run_id}/cancel", headers=reader,
                    data={"csrf": issue_csrf_token("tech@yourmsp.com.au")}).status_code == 403
    assert "/actions/" not in web.get(f"/runs/{run_id}", headers=reader).text  # no buttons without the role

    unconfirmed = web.post(f"/actions/runs/{run_id}/cancel", data={"csrf": csrf_of(confirm.text)})
    assert (unconfirmed.status_code, unconfirmed.headers["location"]) == (303, f"/runs/{run_id}/cancel")
    assert api.get(f"/runs/{run_id}").json()["status"] == "waiting"  # without confirm=yes nothing is done

    cancelled = web.post(f"/actions/runs/{run_id}/cancel", data={"csrf": csrf_of(confirm.text), "confirm": "yes"})
    assert (cancelled.status_code, cancelled.headers["location"]) == (303, f"/runs/{run_id}")
    run = api.get(f"/runs/{run_id}").json()
    assert run["status"] == "cancelled" and run["endedBy"] == "local-developer"
    again = web.post(f"/actions/runs/{run_id}/cancel", data={"csrf": csrf_of(confirm.text), "confirm": "yes"})
    assert again.status_code == 409 and "The run has ended already (cancelled)." in again.text
    ended = web.get(f"/runs/{run_id}/cancel")
    assert ended.status_code == 409 and form_actions(ended.text) == []


def test_roll_back_from_the_run_page_after_confirming_what_it_will_do_once(api, web, sandbox_server):
    run_id, _ = start(api, [{"type": "disable_user"}, {"type": "notify_email", "to": ["soc@yourmsp.com.au"]}])
    wait_for_run(api, run_id)
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False
    page = web.get(f"/runs/{run_id}")
    assert f'href="/runs/{run_id}/rollback"' in page.text and form_actions(page.text) == []
    confirm = web.get(f"/runs/{run_id}/rollback")
    assert confirm.status_code == 200
    plan = re.findall(r"<tr><td>(\d+)</td><th scope=\"row\">(\w+)</th><td>(yes|no)</td>", confirm.text)
    assert plan == [("1", "notify_email", "no"), ("0", "disable_user", "yes")]  # newest first, what is reversed
    assert "notify_email cannot be reversed" in confirm.text
    assert form_actions(confirm.text) == [f"/actions/runs/{run_id}/rollback"]

    # A form without confirm=yes (the old button, a replay) only opens the confirm page: nothing is reversed.
    unconfirmed = web.post(f"/actions/runs/{run_id}/rollback", data={"csrf": csrf_of(confirm.text)})
    assert (unconfirmed.status_code, unconfirmed.headers["location"]) == (303, f"/runs/{run_id}/rollback")
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False
    assert api.get(f"/runs/{run_id}").json().get("rollback") is None

    rolled = web.post(f"/actions/runs/{run_id}/rollback", data={"csrf": csrf_of(confirm.text), "confirm": "yes"})
    assert (rolled.status_code, rolled.headers["location"]) == (303, f"/runs/{run_id}#rollback")
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True
    after = web.get(f"/runs/{run_id}")
    assert "undone" in after.text and "notify_email cannot be reversed" in after.text
    assert f'href="/runs/{run_id}/rollback"' not in after.text
    done = web.get(f"/runs/{run_id}/rollback")
    assert done.status_code == 409 and "rolled back already" in done.text and form_actions(done.text) == []
    again = web.post(f"/actions/runs/{run_id}/rollback", data={"csrf": csrf_of(confirm.text), "confirm": "yes"})
    assert again.status_code == 409 and "rolled back already" in again.text


def test_a_reader_sees_what_a_rollback_would_do_without_a_button(api, web):
    run_id, _ = start(api, [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}])
    wait_for_run(api, run_id)
    reader = principal_header("PLAYBOOKS_READ")
    shown = web.get(f"/runs/{run_id}/rollback", headers=reader)
    assert shown.status_code == 200 and "needs the SECURITY_MANAGE role" in shown.text
    assert form_actions(shown.text) == []
    refused = web.post(f"/actions/runs/{run_id}/rollback", headers=reader,
                       data={"csrf": issue_csrf_token("tech@yourmsp.com.au"), "confirm": "yes"})
    assert refused.status_code == 403 and api.get(f"/runs/{run_id}").json().get("rollback") is None


def test_reveal_password_shows_it_once_and_audits(api, web, monkeypatch):
    monkeypatch.setenv("RIPOSTE_SECRET_PASSWORD_REVEAL_KEY", base64.b64encode(os.urandom(32)).decode())
    run_id, _ = start(api, [{"type": "force_password_reset"}], user=ADELE)
    run = wait_for_run(api, run_id)
    assert run["steps"][0]["status"] == "succeeded"
    page = web.get(f"/runs/{run_id}")
    action = f"/actions/runs/{run_id}/steps/0/password"
    assert action in form_actions(page.text) and "Reveal password" in page.text
    assert web.post(action, data={}).status_code == 403  # no CSRF token: nothing consumed

    shown = web.post(action, data={"csrf": csrf_of(page.text)})
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    password = re.search(r'<code class="secret">([^<]+)</code>', shown.text).group(1)
    assert len(password) >= 12 and ADELE[1] in shown.text
    assert password not in web.get(f"/runs/{run_id}").text

    again = web.post(action, data={"csrf": csrf_of(page.text)})
    assert again.status_code == 410 and "revealed already" in again.text and password not in again.text
    audit = api.get("/audit", params={"action": "password.reveal", "target": run_id}).json()["value"]
    assert len(audit) == 2 and password not in str(audit)
    assert web.post(f"/actions/runs/{run_id}/steps/x/password", data={"csrf": csrf_of(page.text)}).status_code == 400
