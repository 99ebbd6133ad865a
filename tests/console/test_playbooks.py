"""The console's playbook pages on the in-process devhost: the list with its switches (If-Match, so a concurrent
edit is refused, not overwritten), success rates, the editor with problems at their field or document line,
version history with a diff, simulation against a recent alert, and the title-pattern tester."""

from __future__ import annotations

import html as html_module
import re
import uuid

import httpx
import pytest

from shared.console.security import issue_csrf_token
from tests.api.helpers import principal_header, unique
from tests.e2e.test_bec_flow import ADELE, CONTOSO, graph_alert, wait_for_status

pytestmark = pytest.mark.stack
EDITOR = "editor@yourmsp.example"
HOSTILE = '<img src=x onerror=alert(1)></script><script>alert(1)</script>'
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def playbook(api):
    """A disabled playbook whose title pattern only this test's alerts carry; deleted afterwards."""
    token = unique("pbc")
    created = api.post("/playbooks", json={
        "name": f"Console playbook {token}", "enabled": False,
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}},
        "actions": [{"type": "notify_email", "to": ["soc@yourmsp.example"]}]})
    assert created.status_code == 201, created.text
    yield created.json() | {"token": token}
    api.delete(f"/playbooks/{created.json()['id']}")


def console(host, *roles: str, name: str = EDITOR) -> httpx.Client:
    return httpx.Client(base_url=host.origin, headers=principal_header(*roles, name=name), timeout=20,
                        follow_redirects=False)


def manager(host) -> httpx.Client:
    return console(host, "PLAYBOOKS_MANAGE")


def form_of(html: str, playbook_id: str) -> dict[str, str]:
    """The editor's fields as the page shows them (the form a browser would post unchanged)."""
    fields = {"csrf": CSRF.search(html).group(1)}
    for name in ("etag", "name", "category", "titleRegex"):
        found = re.search(rf'name="{name}" value="([^"]*)"', html)
        fields[name] = _unescape(found.group(1)) if found else ""
    fields["description"] = _unescape(re.search(r'name="description"[^>]*>([^<]*)</textarea>', html).group(1))
    fields["document"] = _unescape(re.search(r'name="document"[^>]*>([^<]*)</textarea>', html).group(1))
    severity = html[html.index('id="f-minSeverity"'):]
    fields["minSeverity"] = re.search(r'<option value="(\w+)" selected>', severity).group(1)
    for box in re.findall(r'<input type="checkbox" id="[^"]*" name="([^"]+)" checked', html):  # as a browser posts
        fields[box] = "on"
    return fields


def _unescape(text: str) -> str:
    return html_module.unescape(text)


def test_the_list_switches_a_playbook_at_the_version_shown(app_devhost, api, playbook):
    with manager(app_devhost) as c:
        listed = c.get("/playbooks")
        assert listed.status_code == 200 and playbook["name"] in listed.text
        assert f'action="/actions/playbooks/{playbook["id"]}/settings"' in listed.text
        token = CSRF.search(listed.text).group(1)
        enable = c.post(f"/actions/playbooks/{playbook['id']}/settings",
                        data={"csrf": token, "etag": '"v1"', "enabled": "true"})
        assert enable.status_code == 303 and enable.headers["location"].startswith("/playbooks?saved=")
        assert api.get(f"/playbooks/{playbook['id']}").json()["enabled"] is True
        # A second tab still showing version 1: refused with what happened, nothing saved.
        stale = c.post(f"/actions/playbooks/{playbook['id']}/settings",
                       data={"csrf": token, "etag": '"v1"', "mode": "simulate"})
        assert stale.status_code == 409 and "changed meanwhile (now version 2, by editor@yourmsp.example)" in stale.text
        current = api.get(f"/playbooks/{playbook['id']}").json()
        assert current["mode"] == "live" and current["version"] == 2
        bad = c.post(f"/actions/playbooks/{playbook['id']}/settings",
                     data={"csrf": token, "etag": '"v2"', "mode": "sometimes"})
        assert bad.status_code == 400 and "mode" in bad.text
        mode = c.post(f"/actions/playbooks/{playbook['id']}/settings",
                      data={"csrf": token, "etag": '"v2"', "mode": "simulate"})
        assert mode.status_code == 303
    assert api.get(f"/playbooks/{playbook['id']}").json()["mode"] == "simulate"
    events = api.get("/audit", params={"target": playbook["id"]}).json()["value"]
    assert [e["actor"] for e in events if e["action"] == "playbook.updated"] == [EDITOR, EDITOR]


def test_readers_see_no_forms_and_cannot_post(app_devhost, playbook):
    with console(app_devhost, "PLAYBOOKS_READ") as c:
        listed = c.get("/playbooks")
        assert listed.status_code == 200 and playbook["name"] in listed.text
        assert "/settings" not in listed.text
        shown = c.get(f"/playbooks/{playbook['id']}")
        assert shown.status_code == 200 and "/edit" not in shown.text
        assert "&#34;type&#34;: &#34;notify_email&#34;" in shown.text  # the playbook as JSON, read only
        refused = c.post(f"/actions/playbooks/{playbook['id']}/settings",
                         data={"csrf": issue_csrf_token(EDITOR), "etag": '"v1"', "enabled": "true"})
        assert refused.status_code == 403 and "PLAYBOOKS_MANAGE" in refused.text


def test_success_rates_show_runs_and_the_most_failing_step(app_devhost, api, playbook):
    # A run that fails: disable_user on a user the sandbox does not have.
    api.patch(f"/playbooks/{playbook['id']}", headers={"If-Match": '"v1"'},
              json={"enabled": True, "actions": [{"type": "disable_user"}]})
    ghost = (str(uuid.uuid4()), f"ghost{uuid.uuid4().hex[:6]}@contoso-demo.onmicrosoft.com")
    accepted = api.post("/alerts", json=graph_alert(ghost, f"Ghost {playbook['token']}"))
    [run_id] = accepted.json()["alerts"][0]["runIds"]
    wait_for_status(api, run_id, "completedWithErrors")  # its one step failed
    with console(app_devhost, "PLAYBOOKS_READ") as c:
        html = c.get("/playbooks").text
    rates = html[html.index('id="rates"'):]
    row = re.search(rf'<th scope="row">{re.escape(playbook["name"])}</th>\s*<td>7 days</td>(.*?)</tr>', rates, re.S)
    assert row, rates[:2000]
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert cells[0] == "1" and cells[2] == "1"  # runs, with errors
    assert cells[4].startswith("step 0 (disable_user), 1 of 1: ")


def test_the_editor_puts_each_problem_at_its_field_or_line(app_devhost, playbook):
    with manager(app_devhost) as c:
        page = c.get(f"/playbooks/{playbook['id']}")
        assert page.status_code == 200
        form = form_of(page.text, playbook["id"])
        document = form["document"].replace('"soc@yourmsp.example"', '"not an address"')
        bad = c.post(f"/actions/playbooks/{playbook['id']}/edit",
                     data=form | {"name": "", "titleRegex": "(unclosed", "document": document})
    assert bad.status_code == 400
    html = bad.text
    assert re.search(r'id="f-name"[^>]*aria-invalid="true" aria-describedby="name-error"', html)
    assert re.search(r'<ul class="field-error" id="name-error"><li>String should have at least 1 character', html)
    assert re.search(r'id="f-titleRegex"[^>]*aria-describedby="titleRegex-error"', html)
    assert re.search(r'id="titleRegex-error"><li>invalid regular expression \(RE2 syntax\)', html)
    # The document's problem names its path and line, and is shown next to that line.
    line = document.split("\n").index(next(x for x in document.split("\n") if "not an address" in x)) + 1
    assert re.search(rf'id="document-error"><li>Line {line}, actions\[0\]\.to\[0\]: ', html), html
    assert re.search(r'<li class="bad"><code>\s*&#34;not an address&#34;</code> <span class="field-error">⟵ '
                     r'actions\[0\]\.to\[0\]', html)
    assert 'aria-describedby="document-error"' in html
    assert "not an address" in html and "(unclosed" in html  # what was typed is kept


def test_the_editor_refuses_bad_json_at_its_line_and_saves_a_good_edit(app_devhost, api, playbook):
    with manager(app_devhost) as c:
        form = form_of(c.get(f"/playbooks/{playbook['id']}").text, playbook["id"])
        broken = c.post(f"/actions/playbooks/{playbook['id']}/edit", data=form | {"document": '{\n  "actions": [,\n}'})
        assert broken.status_code == 400 and "Not valid JSON: Expecting value (line 2, column 15)." in broken.text
        saved = c.post(f"/actions/playbooks/{playbook['id']}/edit",
                       data=form | {"name": "Renamed in the console", "category": "security"})
        assert saved.status_code == 303, re.findall(r'class="notice error".*?</div>', saved.text, re.S)
        assert saved.headers["location"] == f"/playbooks/{playbook['id']}?saved=v2"
        assert "Saved as version 2." in c.get(saved.headers["location"]).text
        # The same form again (version 1): someone saved meanwhile; the text is kept, nothing lost.
        stale = c.post(f"/actions/playbooks/{playbook['id']}/edit", data=form | {"name": "Second tab"})
        assert stale.status_code == 409 and "someone else saved version 2" in stale.text
        assert 'value="Second tab"' in stale.text and 'name="etag" value="&#34;v2&#34;"' in stale.text
    current = api.get(f"/playbooks/{playbook['id']}").json()
    assert current["name"] == "Renamed in the console" and current["version"] == 2
    assert current["trigger"]["category"] == "security" and current["actions"] == playbook["actions"]
    assert current["trigger"]["titleRegex"] == playbook["token"] and current["enabled"] is False


def test_versions_and_the_diff_between_two(app_devhost, api, playbook):
    assert api.patch(f"/playbooks/{playbook['id']}", headers={"If-Match": '"v1"'},
                     json={"actions": [{"type": "notify_email", "to": ["other@yourmsp.example"]}]}).status_code == 200
    with console(app_devhost, "PLAYBOOKS_READ") as c:
        versions = c.get(f"/playbooks/{playbook['id']}/versions")
        assert versions.status_code == 200 and ">v1</th>" in versions.text and ">v2</th>" in versions.text
        diff = c.get(f"/playbooks/{playbook['id']}/diff", params={"from": "1", "to": "2"})
        assert diff.status_code == 200
        assert '<span class="del">-        &#34;soc@yourmsp.example&#34;</span>' in diff.text
        assert '<span class="add">+        &#34;other@yourmsp.example&#34;</span>' in diff.text
        assert c.get(f"/playbooks/{playbook['id']}/diff", params={"from": "x", "to": "2"}).status_code == 400
        assert c.get(f"/playbooks/{playbook['id']}/diff", params={"from": "1", "to": "9"}).status_code == 404
        assert c.get(f"/playbooks/{uuid.uuid4().hex}/versions").status_code == 404


def test_simulate_against_a_recent_alert_and_test_a_title_pattern(app_devhost, api, playbook):
    title = f"{HOSTILE} {playbook['token']}"
    accepted = api.post("/alerts", json=graph_alert(ADELE, title))
    alert_id = accepted.json()["alerts"][0]["alertId"]
    with console(app_devhost, "PLAYBOOKS_READ") as c:
        picker = c.get(f"/playbooks/{playbook['id']}/simulate")
        assert picker.status_code == 200 and f'<option value="{alert_id}"' in picker.text
        result = c.get(f"/playbooks/{playbook['id']}/simulate", params={"alertId": alert_id})
        assert result.status_code == 200
        assert "The trigger matches this alert" in result.text and "soc@yourmsp.example" in result.text
        tested = c.get("/playbooks/title-test", params={"pattern": playbook["token"] + "$", "last": "20"})
        assert tested.status_code == 200 and "1 of " in tested.text
        for html in (picker.text, result.text, tested.text):
            assert "<img src=x" not in html and "<script>alert(1)" not in html
            assert "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&lt;script&gt;alert(1)" in html
        # RE2: a pattern that backtracking engines take exponential time on is answered at once.
        assert c.get("/playbooks/title-test", params={"pattern": "(a+)+$", "last": "200"}).status_code == 200
        bad = c.get("/playbooks/title-test", params={"pattern": "a{1001}"})
        assert bad.status_code == 400 and 'aria-describedby="pattern-error"' in bad.text
        assert "invalid regular expression" in bad.text
        assert c.get("/playbooks/title-test", params={"pattern": "a", "last": "201"}).status_code == 400


def test_the_editor_sets_the_trigger_options_with_checkboxes(app_devhost, api, playbook):
    url = f"/playbooks/{playbook['id']}"
    with manager(app_devhost) as c:
        page = c.get(url).text
        for box in ("userType-admin", "devicePlatform-macOS", "reevaluateOnSeverityIncrease"):
            assert re.search(rf'<label for="f-{box}">', page) and f'name="{box}"' in page  # labelled controls
        form = form_of(page, playbook["id"])
        ticked = {"userType-admin": "on", "userType-guest": "on", "devicePlatform-iOS": "on",
                  "reevaluateOnSeverityIncrease": "on"}
        saved = c.post(f"/actions/playbooks/{playbook['id']}/edit", data=form | ticked)
        assert saved.status_code == 303, re.findall(r'class="notice error".*?</div>', saved.text, re.S)
        trigger = api.get(url).json()["trigger"]
        assert (trigger["userTypes"], trigger["devicePlatforms"], trigger["reevaluateOnSeverityIncrease"]) == (
            ["admin", "guest"], ["iOS"], True)
        shown = c.get(url).text
        assert 'name="userType-admin" checked' in shown and 'name="userType-member" checked' not in shown
        assert '"userTypes"' not in shown.split('name="document"')[1].split("</textarea>")[0]  # not in the JSON too
        # Unticking everything (a browser posts no unticked box) removes the conditions.
        again = form_of(shown, playbook["id"])
        cleared = {k: v for k, v in again.items() if not k.startswith(("userType-", "devicePlatform-"))
                   and k != "reevaluateOnSeverityIncrease"}
        assert c.post(f"/actions/playbooks/{playbook['id']}/edit", data=cleared).status_code == 303
    trigger = api.get(url).json()["trigger"]
    assert not {"userTypes", "devicePlatforms", "reevaluateOnSeverityIncrease"} & set(trigger)
