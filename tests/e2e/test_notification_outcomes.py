"""Issue 15 item 3 end to end on the local stack: the service desk's mail and the Teams card list each
completed step's outcome and link the console's run page."""

from __future__ import annotations

import httpx

from tests.api.helpers import bec_playbook, unique
from tests.e2e.test_bec_flow import ADELE, graph_alert, wait_for_run


def test_the_service_desk_mail_lists_each_step_outcome(api, sandbox_server):
    title = unique("Outcome report ")
    playbook = api.post("/playbooks", json=bec_playbook(
        name="Outcome report",
        trigger={"category": "security", "minSeverity": "high", "titleRegex": f"^{title}$",
                 "tenantScope": {"type": "all"}},
        actions=[{"type": "disable_user"}, {"type": "sync_device"},
                 {"type": "post_teams", "webhookSecret": "teams-soc"},
                 {"type": "notify_email", "to": ["servicedesk@yourmsp.com.au", {"role": "manager"}],
                  "subject": "{{ alert.title }}: disable {{ steps[0].status }}"}]))
    assert playbook.status_code == 201, playbook.text
    try:
        accepted = api.post("/alerts", json=graph_alert(ADELE, title)).json()["alerts"][0]
        [run_id] = accepted["runIds"]
        run = wait_for_run(api, run_id)
        statuses = [(s["actionType"], s["status"]) for s in run["steps"]]
        assert statuses[0] == ("disable_user", "succeeded") and statuses[3] == ("notify_email", "succeeded")
        sync = run["steps"][1]

        outbox = httpx.get(f"{sandbox_server.base_url}/_sandbox/outbox").json()["value"]
        [mail] = [m for m in outbox if run_id in m["body"]["content"]]
        assert mail["subject"] == f"{title}: disable succeeded"
        # Adele's manager, read from the sandbox's Graph when the step ran (issue 15 item 2)
        assert mail["to"] == ["servicedesk@yourmsp.com.au", "admin@contoso-demo.onmicrosoft.com"]
        assert {"role": "manager", "address": "admin@contoso-demo.onmicrosoft.com", "via": ADELE[1]} in (
            run["steps"][3]["result"]["recipients"]["resolved"])
        body = mail["body"]["content"]
        section = body.split("Steps so far:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert section[0].startswith("1. disable_user: succeeded (")
        assert ADELE[1] in section[0]
        assert section[1].startswith(f"2. sync_device: {sync['status']}")
        if sync["error"]:
            assert f"{sync['error']['code']}: " in section[1]
        assert section[2].startswith("3. post_teams: succeeded")
        assert len(section) == 3
        assert f"/runs/{run_id}\n" in body and f"/api/runs/{run_id}" not in body

        cards = httpx.get(f"{sandbox_server.base_url}/_sandbox/receivers").json()
        card = next(p["body"]["attachments"][0]["content"] for p in cards["teams"]
                    if run_id in str(p["body"]))
        texts = [b.get("text", "") for b in card["body"]]
        assert any(t.startswith("1. disable_user: succeeded") for t in texts)
        assert card["actions"][0]["url"].endswith(f"/runs/{run_id}")
    finally:
        api.delete(f"/playbooks/{playbook.json()['id']}")
