"""Every page the console registers, in Chromium: axe-core finds no serious or critical violation, the page ships no
script, and it reads at 1280 px and at phone width without scrolling sideways. The pages come from the router, so a
new page is audited without anyone adding it here; a page whose address this test cannot fill fails it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.console.routing import _PARAM, ROUTER
from tests.api.helpers import principal_header, unique
from tests.browser.axe import assert_accessible
from tests.browser.test_approval_page import APPROVER, Gated, api  # noqa: F401  (the api fixture)
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, wait_for_run

pytestmark = pytest.mark.stack
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots" / "every-page"
# The query a page opens with where it shows more with one (a picked playbook, a pattern, a filter).
QUERIES = {"alerts/{alertId}/run": "playbookId={playbookId}", "alerts/{alertId}/simulate": "playbookId={playbookId}",
           "playbooks/{playbookId}/simulate": "alertId={alertId}", "playbooks/{playbookId}/diff": "from=1&to=2",
           "playbooks/title-test": "pattern=Contain&last=50", "runs": "status=succeeded",
           "playbooks/{playbookId}/run-entity": f"tenantId={CONTOSO}&type=user&value={MEGAN[1]}"}
# Which run a run page shows: cancelling is for the waiting run, anything else for the finished one.
WAITING_RUN_PAGES = {"runs/{runId}/cancel"}


def _address(template: str, ids: dict[str, str]) -> str:
    names = {**ids, "runId": ids["waitingRunId"] if template in WAITING_RUN_PAGES else ids["runId"]}
    parts = []
    for segment in template.split("/") if template else []:
        param = _PARAM.match(segment)
        assert not param or param.group(1) in names, f"{template}: this test cannot fill {segment}"
        parts.append(names[param.group(1)] if param else segment)
    query = QUERIES.get(template, "").format(**names)
    return "/" + "/".join(parts) + ("?" + query if query else "")


def test_every_console_page_is_accessible_script_free_and_reads_on_a_phone(page, app_devhost, api):  # noqa: F811
    token = unique("every")
    created = api.post("/playbooks", json={
        "name": f"Contain {token}", "actions": [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    assert created.status_code == 201, created.text
    playbook = created.json()
    assert api.patch(f"/playbooks/{playbook['id']}", json={"description": "second version"},
                     headers={"If-Match": created.headers["etag"]}).status_code == 200
    accepted = api.post("/alerts", json=graph_alert(MEGAN, f"Contain {token}")).json()["alerts"][0]
    wait_for_run(api, accepted["runIds"][0])
    group = api.post("/tenant-groups", json={"id": f"g-{token}", "name": f"Group {token}", "tenantIds": [CONTOSO]})
    assert group.status_code == 201, group.text
    gated = Gated(api)
    ids = {"alertId": accepted["alertId"], "runId": accepted["runIds"][0], "waitingRunId": gated.run_id,
           "playbookId": playbook["id"], "tenantId": CONTOSO, "groupId": f"g-{token}",
           "approvalId": gated.approval_id}
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    # The approver of the gate, with every role: every page and every button on it.
    page.context.set_extra_http_headers(principal_header("PLAYBOOKS_MANAGE", "SECURITY_MANAGE", name=APPROVER))
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = [r.template for r in ROUTER.routes if r.method == "GET"]
    try:
        for template in pages:
            address = _address(template, ids)
            page.set_viewport_size({"width": 1280, "height": 900})
            response = page.goto(app_devhost.origin + address)
            assert response.status == 200, (address, response.status)
            assert page.locator("main h1").count() == 1 and page.locator("script").count() == 0, address
            assert_accessible(page)
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), address
            page.screenshot(path=str(SHOTS / f"{template.replace('/', '_').strip('_') or 'home'}-390.png"),
                            full_page=True)
    finally:
        api.post(f"/runs/{gated.run_id}/cancel")
        api.delete(f"/tenant-groups/g-{token}")
    assert len(pages) >= 25 and problems == []
