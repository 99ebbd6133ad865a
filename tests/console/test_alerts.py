"""The console's alert pages over HTTP: the list (newest first, filters, paging), an alert's page (the alert, why
each playbook matched or not, its runs, the raw payload, all as text), Simulate… and Run playbook…"""

from __future__ import annotations

import re

import httpx
import pytest

from shared.console.security import issue_csrf_token
from shared.settings import get_settings
from tests.api.helpers import principal_header, unique
from tests.console.helpers import XSS_TITLES, assert_escaped, console, csrf_of
from tests.e2e.test_bec_flow import CONTOSO, MEGAN, graph_alert, wait_for_run

pytestmark = pytest.mark.stack


@pytest.fixture
def web(app_devhost):
    with console(app_devhost) as c:
        yield c


def playbook(api: httpx.Client, token: str, actions: list[dict] | None = None, **trigger) -> dict:
    body = {"name": f"pb {token}", "enabled": trigger.pop("enabled", True),
            "actions": actions or [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
            "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}, **trigger}}
    created = api.post("/playbooks", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def post_alert(api: httpx.Client, title: str, **kwargs) -> dict:
    accepted = api.post("/alerts", json=graph_alert(MEGAN, title, **kwargs))
    assert accepted.status_code == 202, accepted.text
    return accepted.json()["alerts"][0]


def alert_ids_on(page_html: str) -> list[str]:
    return re.findall(r'href="/alerts/(al-[0-9a-f]+)"', page_html)


def test_the_list_shows_alerts_newest_first_as_text_and_pages_through_the_store(api, web):
    token = unique("list")
    posted = [post_alert(api, f"{title} {token}")["alertId"] for title in (*XSS_TITLES, "plain")]
    first = web.get("/alerts", params={"source": "graphSecurityAlert", "limit": "2"})
    assert first.status_code == 200
    assert alert_ids_on(first.text) == [posted[2], posted[1]]
    assert_escaped(first.text, f"{XSS_TITLES[1]} {token}")
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older, "a full page links to the older alerts"
    second = web.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert alert_ids_on(second.text)[0] == posted[0]
    assert_escaped(second.text, f"{XSS_TITLES[0]} {token}")
    assert 'href="/alerts?source=graphSecurityAlert&amp;limit=2"' in second.text  # the newest, filters kept


def test_the_list_filters_by_severity_tenant_and_whether_a_playbook_matched(api, web):
    token = unique("filt")
    playbook(api, token, minSeverity="high")
    matched = post_alert(api, f"hit {token}", severity="high")
    unmatched = post_alert(api, f"miss {token}", severity="medium")
    assert matched["matched"] == 1 and unmatched["matched"] == 0
    wait_for_run(api, matched["runIds"][0])  # its mail goes out in this test, not in the next one's Graph calls

    def ids(**params) -> list[str]:
        response = web.get("/alerts", params=params)
        assert response.status_code == 200, response.text
        return alert_ids_on(response.text)

    assert matched["alertId"] in ids(matched="true") and unmatched["alertId"] not in ids(matched="true")
    assert unmatched["alertId"] in ids(matched="false") and matched["alertId"] not in ids(matched="false")
    assert unmatched["alertId"] in ids(severity="medium") and matched["alertId"] not in ids(severity="medium")
    assert matched["alertId"] in ids(tenantId=CONTOSO)
    assert matched["alertId"] not in ids(tenantId="unattributed")
    # the page shows the filters it applied
    shown = web.get("/alerts", params={"severity": "medium", "tenantId": CONTOSO, "matched": "false"}).text
    for value in ("medium", CONTOSO, "false"):
        assert f'<option value="{value}" selected>' in shown


def test_a_bad_filter_is_a_400_with_the_reason_at_its_field(web):
    response = web.get("/alerts", params={"severity": "apocalyptic"})
    assert response.status_code == 400
    assert '<select id="f-severity" name="severity" aria-describedby="severity-error" aria-invalid="true">' \
        in response.text
    assert 'id="severity-error">is one of informational' in response.text
    matched = web.get("/alerts", params={"matched": "maybe"})
    assert matched.status_code == 400 and 'id="matched-error">is true or false.' in matched.text
    bad_token = web.get("/alerts", params={"continuationToken": "!!"})
    assert bad_token.status_code == 400 and "not a token this API issued" in bad_token.text


def test_the_alert_page_shows_the_alert_why_playbooks_matched_its_runs_and_the_raw_payload(api, web):
    token = unique("page")
    hit = playbook(api, token)
    miss = playbook(api, token, minSeverity="critical")
    title = f"{XSS_TITLES[1]} {token}"
    payload = graph_alert(MEGAN, title)
    payload["description"] = XSS_TITLES[0]
    sha1 = "5f1e8acedc065031aad553b710838eb366cfee9a"
    payload["evidence"] += [  # attacker-named file and URL: shown as text, never as markup or a link
        {"@odata.type": "#microsoft.graph.security.fileEvidence",
         "fileDetails": {"sha1": sha1, "fileName": XSS_TITLES[1]}},
        {"@odata.type": "#microsoft.graph.security.urlEvidence", "url": "https://evil.example/?q=<b>x</b>"}]
    accepted = api.post("/alerts", json=payload).json()["alerts"][0]
    wait_for_run(api, accepted["runIds"][0])

    response = web.get(f"/alerts/{accepted['alertId']}")
    assert response.status_code == 200
    text = response.text
    assert_escaped(text, title)
    assert_escaped(text, XSS_TITLES[0])
    assert "<script>alert(1)" not in text and "<img src=x" not in text
    assert f"sha1 <code>{sha1}</code>" in text and "<code>https://evil.example/?q=&lt;b&gt;x&lt;/b&gt;</code>" in text
    assert 'href="https://evil.example' not in text
    assert MEGAN[1] in text and "graphSecurityAlert" in text and "InitialAccess" in text
    # Why each matched or not: the recorded conditions, the failed one with its reason.
    assert f"pb {token}" in text and "severity high is below minimum critical" in text
    assert hit["id"] in accepted["runIds"][0] and miss["id"] not in "".join(accepted["runIds"])
    assert f'href="/runs/{accepted["runIds"][0]}"' in text and "notify_email" in text
    raw = re.search(r'<pre class="raw">(.*?)</pre>', text, re.S).group(1)
    assert "&#34;serviceSource&#34;: &#34;microsoftDefenderForOffice365&#34;" in raw or \
        "&quot;serviceSource&quot;" in raw or '"serviceSource": "microsoftDefenderForOffice365"' in raw
    assert "&lt;/script&gt;" in raw


def test_an_unknown_or_malformed_alert_is_a_404_or_400_page(web):
    assert web.get("/alerts/al-" + "0" * 32).status_code == 404
    assert web.get("/alerts/" + "x" * 300).status_code == 400


def test_simulate_shows_what_a_playbook_would_do_and_does_nothing(api, web):
    token = unique("sim")
    pb = playbook(api, token, [{"type": "disable_user"}], enabled=False)
    alert = post_alert(api, f"alert {token}")
    assert alert["runIds"] == []
    picker = web.get(f"/alerts/{alert['alertId']}/simulate")
    assert picker.status_code == 200 and f'<option value="{pb["id"]}"' in picker.text
    result = web.get(f"/alerts/{alert['alertId']}/simulate", params={"playbookId": pb["id"]})
    assert result.status_code == 200
    assert "Its trigger matches this alert." in result.text and MEGAN[1] in result.text
    assert api.get("/runs", params={"alertId": alert["alertId"]}).json()["value"] == []
    missing = web.get(f"/alerts/{alert['alertId']}/simulate", params={"playbookId": "0" * 32})
    assert missing.status_code == 400 and 'id="playbookId-error">There is no such playbook' in missing.text


def test_run_playbook_confirms_then_starts_a_manual_run_and_opens_its_page(api, web):
    token = unique("run")
    pb = playbook(api, token, enabled=False)
    alert = post_alert(api, f"alert {token}")
    confirm = web.get(f"/alerts/{alert['alertId']}/run", params={"playbookId": pb["id"]})
    assert confirm.status_code == 200 and f"Run pb {token} now" in confirm.text
    assert f'name="playbookVersion" value="{pb["version"]}"' in confirm.text  # the version whose steps it shows
    form = {"csrf": csrf_of(confirm.text), "playbookId": pb["id"], "playbookVersion": str(pb["version"])}
    action = f"/actions/alerts/{alert['alertId']}/run"

    assert web.post(action, data={"playbookId": pb["id"]}).status_code == 403  # no CSRF token
    assert web.post(action, data=form, headers={"Origin": "https://evil.example"}).status_code == 403
    assert api.get("/runs", params={"alertId": alert["alertId"]}).json()["value"] == []

    no_choice = web.post(action, data={**form, "playbookId": ""})
    assert no_choice.status_code == 422 and 'id="playbookId-error">Choose a playbook.' in no_choice.text

    started = web.post(action, data=form)
    assert started.status_code == 303, started.text
    run_id = started.headers["location"].removeprefix("/runs/")
    assert run_id.startswith(f"ru-{alert['alertId'][3:]}-{pb['id']}-m")
    run = wait_for_run(api, run_id)
    assert run["startedBy"] == get_settings().local_principal_name
    assert web.get(started.headers["location"]).status_code == 200


def test_running_a_playbook_needs_security_manage(api, web):
    token = unique("role")
    pb = playbook(api, token, enabled=False)
    alert = post_alert(api, f"alert {token}")
    reader = principal_header("PLAYBOOKS_READ", "PLAYBOOKS_MANAGE")
    confirm = web.get(f"/alerts/{alert['alertId']}/run", params={"playbookId": pb["id"]}, headers=reader)
    assert confirm.status_code == 200
    assert "needs the SECURITY_MANAGE role" in confirm.text and "/actions/alerts/" not in confirm.text
    refused = web.post(f"/actions/alerts/{alert['alertId']}/run", headers=reader,
                       data={"csrf": issue_csrf_token("tech@yourmsp.com.au"), "playbookId": pb["id"]})
    assert refused.status_code == 403 and "SECURITY_MANAGE" in refused.text
    assert api.get("/runs", params={"alertId": alert["alertId"]}).json()["value"] == []


def test_a_playbook_saved_again_after_the_confirm_page_does_not_start(api, web):
    """The technician confirmed the steps of the version shown: a newer version is shown again to confirm."""
    token = unique("stale")
    created = api.post("/playbooks", json={
        "name": f"pb {token}", "enabled": False, "actions": [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}],
        "trigger": {"titleRegex": token, "tenantScope": {"type": "tenant", "tenantId": CONTOSO}}})
    pb = created.json()
    alert = post_alert(api, f"alert {token}")
    confirm = web.get(f"/alerts/{alert['alertId']}/run", params={"playbookId": pb["id"]})
    form = {"csrf": csrf_of(confirm.text), "playbookId": pb["id"], "playbookVersion": str(pb["version"])}
    saved = api.patch(f"/playbooks/{pb['id']}", headers={"If-Match": created.headers["etag"]},
                      json={"actions": [{"type": "disable_user"}]})
    assert saved.status_code == 200 and saved.json()["version"] == pb["version"] + 1

    stale = web.post(f"/actions/alerts/{alert['alertId']}/run", data=form)
    assert stale.status_code == 409 and "was changed since the page you confirmed" in stale.text
    assert "disable_user" in stale.text and f'name="playbookVersion" value="{pb["version"] + 1}"' in stale.text
    assert web.post(f"/actions/alerts/{alert['alertId']}/run",
                    data={k: v for k, v in form.items() if k != "playbookVersion"}).status_code == 409
    assert api.get("/runs", params={"alertId": alert["alertId"]}).json()["value"] == []


def test_the_alert_page_shows_what_intake_knew_and_each_rise_in_severity(api, web):
    token = unique("rise")
    admins = playbook(api, token, userTypes=["admin"], minSeverity="high", reevaluateOnSeverityIncrease=True)
    payload = graph_alert(MEGAN, f"alert {token}", severity="low")
    first = api.post("/alerts", json=payload).json()["alerts"][0]
    risen = api.post("/alerts", json=payload | {"severity": "high"}).json()["alerts"][0]
    assert [r for r in risen["runIds"] if admins["id"] in r]

    text = web.get(f"/alerts/{first['alertId']}").text
    assert "Rose to high (from low)" in text and "Playbooks re-evaluated at high" in text
    rise = text[text.index("Rose to high"):text.index('<section aria-labelledby="h-runs">')]
    assert f"pb {token}" in rise and "<dt>User type</dt>" in rise
    assert f"<dd>user {MEGAN[1]} is admin (from Graph: holds User Administrator) (read " in rise
    # A simulation of the stored alert decides on what the rise read, and says when.
    simulated = web.get(f"/alerts/{first['alertId']}/simulate", params={"playbookId": admins["id"]}).text
    assert "Its trigger matches this alert." in simulated
    assert f"user {MEGAN[1]} is admin (from Graph: holds User Administrator), as intake recorded it at " in simulated
