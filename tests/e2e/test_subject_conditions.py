"""trigger.userTypes / devicePlatforms end to end on the local stack: saved through the API (a bad value is a 400
naming the field), decided at intake from Graph (the sandbox's directory roles and userType), and recorded in the
alert's match decisions, with the facts they were decided on, which a simulation of the stored alert uses."""

from __future__ import annotations

from tests.api.helpers import unique
from tests.e2e.test_bec_flow import ADELE, MEGAN, graph_alert
from tests.e2e.test_simulate_and_execute import playbook


def test_user_types_are_decided_at_intake_and_recorded(api):
    token = unique("utype")
    notify = [{"type": "notify_email", "to": ["soc@yourmsp.com.au"]}]
    admins = playbook(api, token, notify, userTypes=["admin"])
    members = playbook(api, token, notify, userTypes=["member"], devicePlatforms=["windows", "macOS"])
    for created in (admins, members):
        assert api.patch(f"/playbooks/{created['id']}", json={"enabled": True},
                         headers={"If-Match": '"v1"'}).status_code == 200
    assert api.get(f"/playbooks/{admins['id']}").json()["trigger"]["userTypes"] == ["admin"]

    megan = api.post("/alerts", json=graph_alert(MEGAN, f"alert {token}")).json()["alerts"][0]
    assert len(megan["runIds"]) == 1 and admins["id"] in megan["runIds"][0]  # Megan holds User Administrator

    adele = graph_alert(ADELE, f"alert {token}")
    adele["evidence"].append({"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "LT-9",
                              "osPlatform": "Windows11"})
    accepted = api.post("/alerts", json=adele).json()["alerts"][0]
    assert len(accepted["runIds"]) == 1 and members["id"] in accepted["runIds"][0]
    decisions = {d["playbookId"]: d for d in api.get(f"/alerts/{accepted['alertId']}").json()["matchDecisions"]}
    assert decisions[admins["id"]]["conditions"][-1] == {
        "name": "userType", "passed": False,
        "detail": f"user {ADELE[1]} is member (from Graph); not one of admin"}
    assert [c["name"] for c in decisions[members["id"]]["conditions"]][-2:] == ["userType", "devicePlatform"]
    assert decisions[members["id"]]["conditions"][-1]["detail"] == (
        "device LT-9 runs windows (from the alert); one of windows, macOS")
    # What intake read is kept with the alert...
    shown = api.get(f"/alerts/{accepted['alertId']}").json()
    facts = shown["subjectFacts"]
    assert (facts["userType"]["value"], facts["userType"]["detail"]) == ("member", f"user {ADELE[1]} is member "
                                                                                   "(from Graph)")
    assert facts["devicePlatform"]["value"] == "windows" and facts["userType"]["at"]
    # ...and a simulation of the stored alert decides on it (it reads nothing from Graph itself), saying so.
    simulated = api.post(f"/playbooks/{members['id']}/simulate", json={"alertId": accepted["alertId"]}).json()
    assert simulated["wouldMatch"] is True
    user_type = simulated["decision"]["conditions"][-2]
    assert user_type["passed"] is True
    assert user_type["detail"].startswith(f"user {ADELE[1]} is member (from Graph), as intake recorded it at ")
    # The same alert posted (not stored): intake never read it, and the simulation says so.
    posted = api.post(f"/playbooks/{members['id']}/simulate", json={"alert": adele}).json()
    assert posted["wouldMatch"] is False
    assert posted["decision"]["conditions"][-1]["detail"] == (
        "unknown: the alert is not stored, so intake never read the user's type, and a simulation reads nothing "
        "from Graph")


def test_a_bad_value_is_refused_naming_the_field(api):
    body = {"name": "x", "actions": [{"type": "disable_user"}], "trigger": {"devicePlatforms": ["windows", "beos"]}}
    refused = api.post("/playbooks", json=body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["field"] == "trigger.devicePlatforms[1]", error
    assert "macOS" in error["message"]
