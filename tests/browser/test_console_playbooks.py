"""The playbook pages in Chromium: the editor's validation message appears at the field it concerns (and is
what the field's aria-describedby names); the list, editor, diff and title tester pass axe-core, stay clean under
the CSP with an alert title that carries markup, and read on a phone."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.api.helpers import principal_header, unique
from tests.browser.axe import assert_accessible
from tests.e2e.test_bec_flow import ADELE, CONTOSO, graph_alert

pytestmark = pytest.mark.stack
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
HOSTILE = '<img src=x onerror=alert(1)></script><script>alert(1)</script>'


@pytest.fixture
def playbook(api):
    token = unique("pbb")
    created = api.post("/playbooks", json={
        "name": f"Browser playbook {token}", "enabled": False,
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}},
        "actions": [{"type": "notify_email", "to": ["soc@yourmsp.example"]}]})
    assert created.status_code == 201, created.text
    yield created.json() | {"token": token}
    api.delete(f"/playbooks/{created.json()['id']}")


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SHOTS / f"{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
    page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_the_editors_validation_message_appears_at_the_field(page, app_devhost, playbook):
    problems: list[str] = []
    # Errors in the page's console (a CSP refusal, a script error), but not the 400 the refused save answers.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"
            and "status of 400" not in m.text else None)
    page.context.set_extra_http_headers(principal_header("PLAYBOOKS_MANAGE", name="editor@yourmsp.example"))
    page.goto(f"{app_devhost.origin}/playbooks")
    expect(page.get_by_role("link", name=playbook["name"])).to_be_visible()
    assert_accessible(page)
    shoot(page, "playbooks-list")

    page.get_by_role("link", name=playbook["name"]).click()
    page.get_by_label("Name", exact=True).fill("")
    document = page.locator("#f-document")
    document.fill(document.input_value().replace('"soc@yourmsp.example"', '"not an address"'))
    page.get_by_role("button", name="Save as version 2").click()

    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    described = page.locator("#" + name.get_attribute("aria-describedby"))
    expect(described).to_contain_text("String should have at least 1 character")
    # The message sits right after its field, and the document's problem beside its line.
    assert page.evaluate("() => document.getElementById('f-name').nextElementSibling.id") == "name-error"
    expect(page.locator("#" + document.get_attribute("aria-describedby"))).to_contain_text("actions[0].to[0]")
    expect(page.locator("ol.json-lines li.bad")).to_contain_text('"not an address"')
    expect(page.locator("ol.json-lines li.bad .field-error")).to_contain_text("actions[0].to[0]")
    assert_accessible(page)
    shoot(page, "playbooks-editor-errors")
    assert problems == []


def test_the_title_tester_and_simulation_show_hostile_titles_as_text(page, app_devhost, api, playbook):
    accepted = api.post("/alerts", json=graph_alert(ADELE, f"{HOSTILE} {playbook['token']}"))
    alert_id = accepted.json()["alerts"][0]["alertId"]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.context.set_extra_http_headers(principal_header("PLAYBOOKS_READ"))
    page.goto(f"{app_devhost.origin}/playbooks/title-test?pattern={playbook['token']}&last=50")
    expect(page.get_by_role("status")).to_contain_text("1 of ")
    expect(page.get_by_role("cell", name=f"{HOSTILE} {playbook['token']}")).to_be_visible()
    assert page.locator("main img, main script").count() == 0
    assert_accessible(page)
    shoot(page, "playbooks-title-test")
    page.goto(f"{app_devhost.origin}/playbooks/{playbook['id']}/simulate?alertId={alert_id}")
    expect(page.get_by_text("The trigger matches this alert")).to_be_visible()
    assert page.locator("main img, main script").count() == 0
    assert_accessible(page)
    shoot(page, "playbooks-simulate")
    assert dialogs == []
