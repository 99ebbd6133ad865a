"""The console's "Run on an entity…" (a playbook's page): pick a tenant and an entity, see what would be done, confirm,
and the run's page shows the entity (shared/console/pages/entity_runs.py)."""

from __future__ import annotations

import re

import pytest

from shared.console.security import issue_csrf_token
from shared.settings import get_settings
from tests.api.helpers import principal_header, unique
from tests.console.helpers import XSS_TITLES, assert_escaped, console, csrf_of, form_actions
from tests.console.test_alerts import playbook
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, sandbox_user, wait_for_run

pytestmark = pytest.mark.stack


@pytest.fixture
def web(app_devhost):
    with console(app_devhost) as c:
        yield c


def test_run_on_an_entity_shows_what_it_will_do_then_starts_the_run(api, web, sandbox_server):
    pb = playbook(api, unique("ent"), [{"type": "disable_user"}], enabled=False)
    assert f'href="/playbooks/{pb["id"]}/run-entity"' in web.get(f"/playbooks/{pb['id']}").text
    form_page = web.get(f"/playbooks/{pb['id']}/run-entity")
    assert form_page.status_code == 200
    assert f'<option value="{CONTOSO}">Contoso Demo</option>' in form_page.text  # the tenants of its scope
    assert form_actions(form_page.text) == []  # nothing to confirm yet

    params = {"tenantId": CONTOSO, "type": "user", "value": MEGAN[1]}
    confirm = web.get(f"/playbooks/{pb['id']}/run-entity", params=params)
    assert confirm.status_code == 200, confirm.text
    assert f"Would disable: {MEGAN[1]} in tenant {CONTOSO}" in confirm.text  # nothing is called to say it
    assert f"Run pb {pb['name'][3:]} now on user {MEGAN[1]}" in confirm.text
    assert "this entity" in confirm.text and "this alert" not in confirm.text  # the shared simulation panel
    action = f"/actions/playbooks/{pb['id']}/run-entity"
    assert form_actions(confirm.text) == [action]
    form = {"csrf": csrf_of(confirm.text), "playbookVersion": str(pb["version"]), **params}

    assert web.post(action, data=params).status_code == 403  # no CSRF token
    stale = web.post(action, data=form | {"playbookVersion": str(pb["version"] - 1)})
    assert stale.status_code == 409 and "was changed since the page you confirmed" in stale.text
    assert web.post(action, data=form, headers={"Origin": "https://evil.example"}).status_code == 403
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is True

    started = web.post(action, data=form)
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].removeprefix("/runs/")
    assert f"-{pb['id']}-m" in run_id
    run = wait_for_run(api, run_id)
    assert (run["startedBy"], run["entity"]["userPrincipalName"]) == (get_settings().local_principal_name, MEGAN[1])
    assert sandbox_user(sandbox_server, MEGAN[1])["accountEnabled"] is False
    run_page = web.get(started.headers["location"])
    assert run_page.status_code == 200
    assert f"<dt>Entity</dt><dd>user {MEGAN[1]}" in run_page.text
    # The entity's record says no playbook matched it: a person ran this one (the alert list counts it so too).
    record = web.get(f"/alerts/{run['alertId']}")
    assert record.status_code == 200
    matched_cells = re.findall(r"<td>(?:<span class=\"status-succeeded\">)?(yes|no[^<]*)", record.text)
    assert matched_cells == ["no: run by hand"] and "no trigger was checked" in record.text


def test_a_file_entity_shows_the_indicator_it_would_submit(api, web):
    sha256 = "8963a19fb992ad9a76576c5638fd68292cffb9aaac29eb8285f9abf6196a7dec"
    step = {"type": "add_defender_indicator", "fromAlert": True, "fromAlertTypes": ["FileSha256"]}
    pb = playbook(api, unique("ent"), [step], enabled=False)
    confirm = web.get(f"/playbooks/{pb['id']}/run-entity",
                      params={"tenantId": CONTOSO, "type": "file", "value": sha256.upper()})
    assert confirm.status_code == 200, confirm.text
    assert f"FileSha256 {sha256}" in confirm.text and f"now on file {sha256}" in confirm.text


@pytest.mark.parametrize(("params", "field", "status"), [
    ({"tenantId": CONTOSO, "type": "ip", "value": "10.0.0.300"}, "value", 400),
    ({"tenantId": CONTOSO, "type": "user", "value": ""}, "value", 400),
    ({"tenantId": CONTOSO, "type": "device", "value": "a b"}, "value", 400),
    ({"tenantId": CONTOSO, "type": "host", "value": "x"}, "type", 400),
    ({"tenantId": CONTOSO, "type": "file", "value": "abc"}, "value", 400),
    ({"tenantId": CONTOSO, "type": "url", "value": "javascript:alert(1)"}, "value", 400),
    ({"tenantId": "", "type": "ip", "value": "10.0.0.1"}, "tenantId", 400),
    ({"tenantId": "33333333-3333-4333-8333-333333333333", "type": "ip", "value": "10.0.0.1"}, "tenantId", 422),
])
def test_a_wrong_field_is_named_next_to_it_and_nothing_starts(api, web, params, field, status):
    pb = playbook(api, unique("ent"), [{"type": "disable_user"}], enabled=False)
    shown = web.get(f"/playbooks/{pb['id']}/run-entity", params=params)
    assert shown.status_code == status, shown.text
    assert f'aria-describedby="e-{field}' in shown.text or f'aria-describedby="h-{field} e-{field}"' in shown.text
    assert f'id="e-{field}"' in shown.text
    assert form_actions(shown.text) == []
    posted = web.post(f"/actions/playbooks/{pb['id']}/run-entity",
                      data={"csrf": issue_csrf_token(get_settings().local_principal_name), **params})
    assert posted.status_code == status and f'id="e-{field}"' in posted.text
    assert api.get("/runs", params={"playbookId": pb["id"]}).json()["value"] == []


def test_a_typed_value_is_shown_back_as_text(api, web):
    pb = playbook(api, unique("ent"), [{"type": "disable_user"}], enabled=False)
    for payload in XSS_TITLES:
        shown = web.get(f"/playbooks/{pb['id']}/run-entity",
                        params={"tenantId": CONTOSO, "type": "device", "value": payload})
        assert shown.status_code == 400
        assert_escaped(shown.text, payload)


def test_running_on_an_entity_needs_security_manage(api, web):
    pb = playbook(api, unique("ent"), [{"type": "disable_user"}], enabled=False)
    reader = principal_header("PLAYBOOKS_READ", "PLAYBOOKS_MANAGE")
    params = {"tenantId": CONTOSO, "type": "user", "value": MEGAN[1]}
    shown = web.get(f"/playbooks/{pb['id']}/run-entity", params=params, headers=reader)
    assert shown.status_code == 200 and "needs the SECURITY_MANAGE role" in shown.text
    assert form_actions(shown.text) == []
    refused = web.post(f"/actions/playbooks/{pb['id']}/run-entity", headers=reader,
                       data={"csrf": issue_csrf_token("tech@yourmsp.com.au"), **params})
    assert refused.status_code == 403 and "SECURITY_MANAGE" in refused.text


@pytest.mark.parametrize("value", ["pc-01.contoso.com", "11111111-2222-4333-8444-555555555555", "a" * 40])
def test_a_device_entity_is_the_device_a_machine_action_would_act_on(api, web, value):
    pb = playbook(api, unique("ent"), [{"type": "isolate_machine"}], enabled=False)
    params = {"tenantId": CONTOSO, "type": "device", "value": value}
    confirm = web.get(f"/playbooks/{pb['id']}/run-entity", params=params)
    assert confirm.status_code == 200, confirm.text
    assert f"Would isolate (Full isolation) on the Defender for Endpoint machine(s) {value} in tenant {CONTOSO}" \
        in confirm.text and "names no device" not in confirm.text
