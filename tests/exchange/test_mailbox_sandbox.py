"""The sandbox's mailbox areas over raw HTTP: Graph inbox rules (shapes and codes per graph-contract.md
§2.6) and Exchange Online's InvokeCommand (its own audience, tenant check, cmdlets, errors, faults)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox import SandboxServer
from sandbox.seed import CONTOSO_DOMAIN, CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.graph.credentials import mint_unsigned_token

ADELE = f"adele.vance@{CONTOSO_DOMAIN}"
MEGAN = f"megan.bowen@{CONTOSO_DOMAIN}"
GUEST = f"alex.wilber_fabrikam.com#EXT#@{CONTOSO_DOMAIN}"
EXCHANGE = "https://outlook.office365.com"
INVOKE = f"/adminapi/beta/{CONTOSO_TENANT_ID}/InvokeCommand"


def bearer(audience: str = "https://graph.microsoft.com", tenant_id: str = CONTOSO_TENANT_ID,
           lifetime_s: float = 600) -> dict[str, str]:
    token = mint_unsigned_token(tenant_id, "riposte-tests", time.time() + lifetime_s, audience)
    return {"Authorization": f"Bearer {token}"}


def rules_url(user: str = ADELE, rule_id: str | None = None) -> str:
    url = f"/v1.0/users/{quote(user, safe='@')}/mailFolders/inbox/messageRules"
    return url + (f"/{quote(rule_id, safe='')}" if rule_id else "")


def cmdlet(name: str, **parameters: Any) -> dict[str, Any]:
    return {"CmdletInput": {"CmdletName": name, "Parameters": parameters}}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer() as sandbox:
        yield sandbox


@pytest.fixture
def http(server: SandboxServer) -> Iterator[httpx.Client]:
    server.state.reset()
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def invoke(http: httpx.Client, name: str, audience: str = EXCHANGE, path: str = INVOKE, **parameters: Any
           ) -> httpx.Response:
    return http.post(path, json=cmdlet(name, **parameters), headers=bearer(audience))


# --- Graph inbox rules ---------------------------------------------------------------------------
def test_list_rules_has_graphs_shape(http: httpx.Client) -> None:
    response = http.get(rules_url(), headers=bearer())

    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("/mailFolders('inbox')/messageRules")
    assert [r["displayName"] for r in body["value"]] == ["..", "Mail sync", "Board mail to Megan", "Newsletters"]
    first = body["value"][0]
    assert set(first) == {"id", "displayName", "sequence", "isEnabled", "hasError", "isReadOnly", "conditions",
                          "actions"}
    assert first["id"].endswith("=")
    assert first["actions"]["forwardTo"] == [{"emailAddress": {"name": "Accounts",
                                                               "address": "exfil@protonmail.example"}}]


def test_patch_answers_200_with_the_whole_rule(http: httpx.Client) -> None:
    response = http.patch(rules_url(rule_id="AQAAAJ5d/qA="), json={"isEnabled": False}, headers=bearer())

    assert response.status_code == 200
    body = response.json()
    assert body["isEnabled"] is False and body["displayName"] == "Mail sync" and "redirectTo" in body["actions"]
    assert body["@odata.context"].endswith("/messageRules/$entity")
    # Setting actions replaces them whole, as in the docs' example.
    replaced = http.patch(rules_url(rule_id="AQAAAJ5d/qA="), json={"actions": {"markImportance": "high"}},
                          headers=bearer()).json()
    assert replaced["actions"] == {"markImportance": "high"}


def test_create_get_and_delete_a_rule(http: httpx.Client) -> None:
    created = http.post(rules_url(), headers=bearer(), json={
        "displayName": "From partner", "sequence": 7, "isEnabled": True,
        "conditions": {"senderContains": ["adele"]},
        "actions": {"forwardTo": [{"emailAddress": {"address": "alexw@contoso.example"}}]}})

    assert created.status_code == 201
    rule = created.json()
    assert rule["id"].endswith("=") and rule["isReadOnly"] is False and rule["sequence"] == 7
    assert http.get(rules_url(rule_id=rule["id"]), headers=bearer()).json()["displayName"] == "From partner"
    assert http.delete(rules_url(rule_id=rule["id"]), headers=bearer()).status_code == 204
    gone = http.get(rules_url(rule_id=rule["id"]), headers=bearer())
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorItemNotFound"


def test_read_only_rules_cannot_be_changed_or_deleted(http: httpx.Client) -> None:
    for response in (http.patch(rules_url(MEGAN, "AQAAAJ5dZqM="), json={"isEnabled": False}, headers=bearer()),
                     http.delete(rules_url(MEGAN, "AQAAAJ5dZqM="), headers=bearer())):
        assert response.status_code == 400 and "read-only" in response.json()["error"]["message"]
    assert http.get(rules_url(MEGAN, "AQAAAJ5dZqM="), headers=bearer()).json()["isEnabled"] is True


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"isEnabled": "no"}, 400, "RequestBodyRead"),
    ({"id": "AQAAAAAAAAA="}, 400, "ErrorInvalidPropertyRequest"),
    ({"colour": "red"}, 400, "RequestBodyRead"),
    ({"actions": {"teleport": True}}, 400, "RequestBodyRead"),
    ({"actions": {"forwardTo": [{"emailAddress": {"address": "nobody"}}]}}, 400, "ErrorInvalidRecipients"),
])
def test_bad_updates_change_nothing(http: httpx.Client, body, status, code) -> None:
    response = http.patch(rules_url(rule_id="AQAAAJ5dZp8="), json=body, headers=bearer())

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert http.get(rules_url(rule_id="AQAAAJ5dZp8="), headers=bearer()).json()["isEnabled"] is True


def test_rules_of_unknown_users_and_mailbox_less_users(http: httpx.Client) -> None:
    unknown = http.get(rules_url(f"nobody@{CONTOSO_DOMAIN}"), headers=bearer())
    guest = http.get(rules_url(GUEST), headers=bearer())

    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "Request_ResourceNotFound"
    assert guest.status_code == 404 and guest.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert http.get(rules_url(), headers=bearer(tenant_id=FABRIKAM_TENANT_ID)).status_code == 404


def test_rules_work_inside_a_batch(http: httpx.Client) -> None:
    response = http.post("/v1.0/$batch", headers=bearer(), json={"requests": [
        {"id": "1", "method": "PATCH", "url": rules_url(rule_id="AQAAAJ5dZp8=").removeprefix("/v1.0"),
         "headers": {"Content-Type": "application/json"}, "body": {"isEnabled": False}}]})

    assert response.json()["responses"][0]["status"] == 200
    assert http.get(rules_url(rule_id="AQAAAJ5dZp8="), headers=bearer()).json()["isEnabled"] is False


def test_rule_inspection_endpoints(http: httpx.Client) -> None:
    added = http.post(f"/_sandbox/mail_rules/tenants/{CONTOSO_TENANT_ID}/users/{ADELE}", json={
        "displayName": "Client-only", "isReadOnly": True, "actions": {"delete": True}})
    assert added.status_code == 201 and added.json()["isReadOnly"] is True

    mine = http.get(f"/_sandbox/mail_rules/tenants/{CONTOSO_TENANT_ID}/users/{ADELE}").json()["value"]
    assert [r["displayName"] for r in mine][-1] == "Client-only"
    everyone = http.get(f"/_sandbox/mail_rules/tenants/{CONTOSO_TENANT_ID}").json()["value"]
    assert {u["userPrincipalName"] for u in everyone} == {ADELE, MEGAN}
    assert http.get(f"/_sandbox/mail_rules/tenants/{CONTOSO_TENANT_ID}/users/nobody").status_code == 404


# --- Exchange Online InvokeCommand ---------------------------------------------------------------
def test_get_mailbox_shows_the_seeded_forwarding(http: httpx.Client) -> None:
    response = invoke(http, "Get-Mailbox", Identity=ADELE)

    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#Collection(Exchange.GenericHashTable)")
    assert "@adminapi.warnings" not in body
    box = body["value"][0]
    assert box["ForwardingSmtpAddress"] == "smtp:exfil@protonmail.example" and box["DeliverToMailboxAndForward"]
    assert box["RecipientTypeDetails"] == "UserMailbox" and box["UserPrincipalName"] == ADELE
    # Every identity form Exchange accepts finds the same mailbox.
    for identity in ("adele.vance", "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "Adele Vance", box["Guid"]):
        assert invoke(http, "Get-Mailbox", Identity=identity).json()["value"][0]["Guid"] == box["Guid"]
    everyone = invoke(http, "Get-Mailbox").json()["value"]
    assert {m["UserPrincipalName"] for m in everyone} >= {ADELE, MEGAN} and GUEST not in str(everyone)


def test_set_mailbox_changes_state_and_warns_when_nothing_changes(http: httpx.Client) -> None:
    cleared = invoke(http, "Set-Mailbox", Identity=ADELE, ForwardingSmtpAddress=None, DeliverToMailboxAndForward=False)
    assert cleared.status_code == 200 and cleared.json()["value"] == []
    again = invoke(http, "Set-Mailbox", Identity=ADELE, ForwardingSmtpAddress=None)
    assert again.json()["@adminapi.warnings"] == [
        "The command completed successfully but no settings of 'adele.vance' have been modified."]

    invoke(http, "Set-Mailbox", Identity=ADELE, ForwardingAddress=MEGAN, Type="shared")
    box = http.get(f"/_sandbox/exchange_admin/tenants/{CONTOSO_TENANT_ID}/mailboxes/{ADELE}").json()
    assert (box["ForwardingSmtpAddress"], box["ForwardingAddress"], box["DeliverToMailboxAndForward"],
            box["RecipientTypeDetails"]) == (None, MEGAN, False, "SharedMailbox")
    invoke(http, "Set-Mailbox", Identity=ADELE, ForwardingSmtpAddress="x@y.example", Type="Regular")
    box = invoke(http, "Get-Mailbox", Identity=ADELE).json()["value"][0]
    assert box["ForwardingSmtpAddress"] == "smtp:x@y.example" and box["RecipientTypeDetails"] == "UserMailbox"


@pytest.mark.parametrize(("name", "parameters", "status", "exception"), [
    ("Get-Mailbox", {"Identity": "ghost@contoso-demo.onmicrosoft.com"}, 404, "ManagementObjectNotFoundException"),
    ("Get-Mailbox", {"Identity": GUEST}, 404, "ManagementObjectNotFoundException"),  # guests have no mailbox
    ("Set-Mailbox", {"Identity": ADELE, "Colour": "red"}, 400, "ParameterBindingException"),
    ("Set-Mailbox", {"ForwardingSmtpAddress": None}, 400, "ParameterBindingException"),
    ("Set-Mailbox", {"Identity": ADELE, "Type": "Castle"}, 400, "ParameterBindingException"),
    ("Set-Mailbox", {"Identity": ADELE, "ForwardingSmtpAddress": "not an address"}, 400, "ParameterBindingException"),
    ("Set-Mailbox", {"Identity": ADELE, "DeliverToMailboxAndForward": "maybe"}, 400, "ParameterBindingException"),
    ("Set-Mailbox", {"Identity": ADELE, "ForwardingAddress": "ghost"}, 404, "ManagementObjectNotFoundException"),
    ("Remove-Mailbox", {"Identity": ADELE}, 400, "CommandNotFoundException"),
])
def test_cmdlet_errors(http: httpx.Client, name, parameters, status, exception) -> None:
    response = invoke(http, name, **parameters)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"] == "Error executing cmdlet"
    error_id, exception_type, text = error["details"][0]["message"].split("|", 2)
    assert error_id.startswith("Ex") and exception_type.endswith(exception) and text
    box = invoke(http, "Get-Mailbox", Identity=ADELE).json()["value"][0]
    assert box["ForwardingSmtpAddress"] == "smtp:exfil@protonmail.example"  # a failed Set-Mailbox changed nothing


# Headers are minted when each case runs, not at collection: a long suite must not age a valid token out.
@pytest.mark.parametrize(("headers", "path", "reason"), [
    (dict, INVOKE, "missing"),
    (lambda: bearer("https://graph.microsoft.com"), INVOKE, "audience"),  # a Graph token is not an Exchange token
    (lambda: bearer(EXCHANGE, lifetime_s=-5), INVOKE, "expired"),
    (lambda: bearer(EXCHANGE, tenant_id="33333333-3333-4333-8333-333333333333"), INVOKE, "not known"),
    (lambda: bearer(EXCHANGE), f"/adminapi/beta/{FABRIKAM_TENANT_ID}/InvokeCommand", "not the tenant of the token"),
])
def test_exchange_authenticates_on_its_own_terms(http: httpx.Client, headers, path, reason) -> None:
    response = http.post(path, json=cmdlet("Get-Mailbox"), headers=headers())

    assert response.status_code == 401
    assert "client_id=\"00000002-0000-0ff1-ce00-000000000000\"" in response.headers["WWW-Authenticate"]
    assert reason in response.headers["x-ms-diagnostics"]
    assert http.get("/_sandbox/calls?since=0").json()["value"][-1]["status"] == 401


def test_the_tenant_may_be_named_by_domain_and_calls_are_logged(http: httpx.Client) -> None:
    response = invoke(http, "Get-Mailbox", path=f"/adminapi/beta/{CONTOSO_DOMAIN}/InvokeCommand", Identity=ADELE)

    assert response.status_code == 200
    call = http.get("/_sandbox/calls", params={"tenantId": CONTOSO_TENANT_ID}).json()["value"][-1]
    assert call["path"] == f"/adminapi/beta/{CONTOSO_DOMAIN}/InvokeCommand" and call["status"] == 200
    assert call["body"] == cmdlet("Get-Mailbox", Identity=ADELE) and call["appId"] == "riposte-tests"


def test_faults_apply_to_exchange(http: httpx.Client) -> None:
    http.post("/_sandbox/faults", json={"pathRegex": "/adminapi/", "status": 429, "retryAfter": 1.5, "times": 1})

    throttled = invoke(http, "Set-Mailbox", Identity=ADELE, Type="Shared")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1.5"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert invoke(http, "Get-Mailbox", Identity=ADELE).json()["value"][0]["RecipientTypeDetails"] == "UserMailbox"


def test_bad_bodies(http: httpx.Client) -> None:
    for body in (b"{", b'{"CmdletInput": {}}', b"[]"):
        response = http.post(INVOKE, content=body, headers=bearer(EXCHANGE) | {"Content-Type": "application/json"})
        assert response.status_code == 400


def test_mailbox_inspection_and_reset(http: httpx.Client, server: SandboxServer) -> None:
    everyone = http.get(f"/_sandbox/exchange_admin/tenants/{CONTOSO_TENANT_ID}/mailboxes").json()["value"]
    kinds = {m["UserPrincipalName"]: m["RecipientTypeDetails"] for m in everyone}
    assert kinds[f"riposte@{CONTOSO_DOMAIN}"] == "SharedMailbox" and kinds[ADELE] == "UserMailbox"
    assert http.get(f"/_sandbox/exchange_admin/tenants/{CONTOSO_TENANT_ID}/mailboxes/{GUEST}").status_code == 404

    invoke(http, "Set-Mailbox", Identity=ADELE, Type="Shared")
    http.post("/_sandbox/reset")
    assert invoke(http, "Get-Mailbox", Identity=ADELE).json()["value"][0]["RecipientTypeDetails"] == "UserMailbox"


def test_tenants_added_later_get_mailboxes(http: httpx.Client) -> None:
    tid = "44444444-4444-4444-8444-444444444444"
    http.post("/_sandbox/tenants", json={"id": tid, "displayName": "Added", "domain": "added.example",
                                         "users": [{"userPrincipalName": "kim@added.example", "displayName": "Kim"}]})

    response = http.post(f"/adminapi/beta/{tid}/InvokeCommand", json=cmdlet("Get-Mailbox", Identity="kim"),
                         headers=bearer(EXCHANGE, tenant_id=tid))
    assert response.json()["value"][0]["RecipientTypeDetails"] == "UserMailbox"
    assert http.get(rules_url("kim@added.example"), headers=bearer(tenant_id=tid)).json()["value"] == []
