"""Run on an entity… in Chromium: from a playbook's page, a wrong address is named at its field, a right one shows
what would be done and confirms into the run's page, which names the entity; each page passes axe-core, has no CSP
error and reads on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.api.helpers import unique
from tests.browser.axe import assert_accessible
from tests.browser.test_console_playbooks import shoot
from tests.e2e.test_bec_flow import CONTOSO

pytestmark = pytest.mark.stack


def test_run_a_playbook_on_an_ip_from_its_page(page, app_devhost, api):
    token = unique("entb")
    created = api.post("/playbooks", json={
        "name": f"Entity playbook {token}", "enabled": False,
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}},
        "actions": [{"type": "notify_email", "to": ["soc@yourmsp.example"], "subject": "Look at {{ alert.ips[0] }}"}]})
    assert created.status_code == 201, created.text
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and "status of 400" not in m.text else None)
    page.goto(f"{app_devhost.origin}/playbooks/{created.json()['id']}")
    page.get_by_role("link", name="Run on an entity…").click()
    page.get_by_label("Tenant").select_option(CONTOSO)
    page.get_by_label("Entity").select_option("ip")
    value = page.get_by_label("User, device, address, file or URL")
    value.fill("203.0.113.300")
    page.get_by_role("button", name="Show what it will do").click()
    value = page.get_by_label("User, device, address, file or URL")
    expect(value).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#e-value")).to_contain_text("must be an IPv4 or IPv6 address")
    assert "e-value" in value.get_attribute("aria-describedby")
    assert_accessible(page)
    shoot(page, "playbooks-run-entity-error")

    value.fill("203.0.113.30")
    page.get_by_role("button", name="Show what it will do").click()
    expect(page.get_by_role("heading", name=f"What Entity playbook {token} would do")).to_be_visible()
    assert_accessible(page)
    shoot(page, "playbooks-run-entity-confirm")
    page.get_by_role("button", name=f"Run Entity playbook {token} now on ip 203.0.113.30").click()
    expect(page.locator("dl.facts")).to_contain_text("ip 203.0.113.30")
    assert "/runs/" in page.url
    assert_accessible(page)
    shoot(page, "runs-entity-run")
    assert problems == []
    api.delete(f"/playbooks/{created.json()['id']}")
