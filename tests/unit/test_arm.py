"""Azure Resource Manager plumbing without a server: settings, incident ids, the update body, scopes, and the
client's retries and error classes (httpx's mock transport)."""

from __future__ import annotations

import json

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from shared.alert_payloads import normalize_payload
from shared.arm import ArmClient, ArmError
from shared.arm.client import arm_scope
from shared.arm.sentinel import IncidentRef, update_body
from shared.settings import ArmAuthMode, load_settings
from tests.alert_payloads import load_payload

INCIDENT = ("/subscriptions/6B1F3C9E-2D4A-4E5B-8C7D-9E0F1A2B3C4D/resourceGroups/rg-soc/providers/"
            "Microsoft.OperationalInsights/workspaces/contoso-sentinel/providers/Microsoft.SecurityInsights/"
            "Incidents/7f3a2c1e-5b4d-4e6f-9a8b-1c2d3e4f5a6b")


def test_settings_default_to_azure_and_the_local_stack_names_the_sandbox():
    default = load_settings({})
    local = load_settings({"ARM_BASE_URL": "http://127.0.0.1:7081/", "ARM_AUTH_MODE": "local_token",
                           "ARM_MANAGED_IDENTITY_CLIENT_ID": "c1"})

    assert (default.arm_base_url, default.arm_auth_mode, default.arm_managed_identity_client_id) == (
        "https://management.azure.com", ArmAuthMode.MANAGED_IDENTITY, None)
    assert (local.arm_base_url, local.arm_auth_mode, local.arm_managed_identity_client_id) == (
        "http://127.0.0.1:7081", ArmAuthMode.LOCAL_TOKEN, "c1")
    with pytest.raises(ValueError, match="local-token"):
        load_settings({"ARM_AUTH_MODE": "local-token"})


def test_scopes_follow_the_host_and_the_sandbox_takes_the_public_audience():
    assert arm_scope("https://management.azure.com") == "https://management.azure.com/.default"
    assert arm_scope("https://management.usgovcloudapi.net") == "https://management.usgovcloudapi.net/.default"
    assert arm_scope("http://127.0.0.1:7081") == "https://management.azure.com/.default"


def test_an_incident_id_in_either_case_names_the_incident():
    for resource_id in (INCIDENT, INCIDENT.casefold()):
        ref = IncidentRef.parse(resource_id)
        assert ref is not None
        assert ref.subscription == "6b1f3c9e-2d4a-4e5b-8c7d-9e0f1a2b3c4d"
        assert ref.workspace.casefold() == "contoso-sentinel" and ref.name == "7f3a2c1e-5b4d-4e6f-9a8b-1c2d3e4f5a6b"
        assert ref.path.startswith("/subscriptions/6b1f3c9e-2d4a-4e5b-8c7d-9e0f1a2b3c4d/resourceGroups/")
        assert ref.path.endswith("/providers/Microsoft.SecurityInsights/incidents/7f3a2c1e-5b4d-4e6f-9a8b-1c2d3e4f5a6b")


@pytest.mark.parametrize("resource_id", [
    "", "7f3a2c1e-5b4d-4e6f-9a8b-1c2d3e4f5a6b", INCIDENT + "/", INCIDENT + "/comments/c",
    INCIDENT.replace("6B1F3C9E-2D4A-4E5B-8C7D-9E0F1A2B3C4D", "not-a-subscription"),
    INCIDENT.replace("rg-soc", "rg%2F.."), INCIDENT.replace("rg-soc", "rg."),
    INCIDENT.replace("contoso-sentinel", "a"), INCIDENT.replace("contoso-sentinel", "ws_underscore"),
    INCIDENT.replace("7f3a2c1e-5b4d-4e6f-9a8b-1c2d3e4f5a6b", "-leading-dash"),
    INCIDENT.replace("7f3a2c1e-5b4d-4e6f-9a8b-1c2d3e4f5a6b", "a#b"),
    "https://management.azure.com" + INCIDENT,
])
def test_anything_else_is_no_incident(resource_id):
    assert IncidentRef.parse(resource_id) is None


def test_the_update_body_is_the_writable_properties_read_with_the_changes_and_the_etag():
    incident = {"id": INCIDENT, "etag": '"e1"', "properties": {
        "title": "T", "severity": "High", "status": "New", "owner": {"assignedTo": "Sam"}, "labels": [],
        "incidentNumber": 7, "additionalData": {"commentsCount": 0}, "createdTimeUtc": "2026-11-23T01:00:00Z"}}

    body = update_body(incident, {"status": "Closed", "classification": "Undetermined"})

    assert body == {"etag": '"e1"', "properties": {
        "title": "T", "severity": "High", "status": "Closed", "owner": {"assignedTo": "Sam"}, "labels": [],
        "classification": "Undetermined"}}


class Token:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.scopes = fail, []

    async def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.append(scopes)
        if self.fail:
            raise ClientAuthenticationError("ManagedIdentityCredential authentication unavailable.\nmore")
        return AccessToken("t", 0)


def client(handler, credential=None, waits=None) -> ArmClient:
    async def sleep(seconds: float) -> None:
        (waits if waits is not None else []).append(seconds)

    return ArmClient("https://management.azure.com", credential or Token(),
                     http=httpx.AsyncClient(transport=httpx.MockTransport(handler)), sleep=sleep)


async def test_retry_after_is_waited_for_as_seconds_or_a_date_then_the_answer_returned():
    answers = iter([
        httpx.Response(429, headers={"Retry-After": "3"}, json={"error": {"code": "TooManyRequests"}}),
        httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, json={"name": "x"}),
    ])
    seen, waits = [], []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), request.headers["Authorization"], request.content))
        return next(answers)

    answer = await client(handler, waits=waits).request("PUT", "/a", "2023-02-01", "do it", {"k": 1})

    assert (answer.status, answer.body, answer.attempts) == (200, {"name": "x"}, 3)
    assert waits[0] == 3 and waits[1] == 0  # a date in the past: no wait
    assert {s[1] for s in seen} == {"https://management.azure.com/a?api-version=2023-02-01"}
    assert {s[2] for s in seen} == {"Bearer t"} and json.loads(seen[0][3]) == {"k": 1}


@pytest.mark.parametrize(("status", "code"), [
    (400, "arm_error"), (401, "arm_unauthorized"), (403, "arm_forbidden"), (404, "arm_not_found"),
    (409, "arm_conflict"), (412, "arm_conflict")])
async def test_refusals_are_not_retried_and_keep_arms_code(status, code):
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json={"error": {"code": "SomeArmCode", "message": "why"}})

    with pytest.raises(ArmError) as raised:
        await client(handler).request("GET", "/a", "2023-02-01", "read it")

    assert raised.value.code == code and len(calls) == 1
    assert raised.value.step_error().message.endswith("(SomeArmCode: why)")


async def test_an_unreachable_arm_and_a_credential_that_fails_are_step_errors():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(ArmError) as unreachable:
        await client(down).request("GET", "/a", "2023-02-01", "read it")
    with pytest.raises(ArmError) as no_token:
        await client(lambda r: httpx.Response(200), credential=Token(fail=True)).request(
            "GET", "/a", "2023-02-01", "read it")

    assert (unreachable.value.code, unreachable.value.attempts) == ("arm_unavailable", 4)
    assert no_token.value.code == "arm_unauthorized"
    assert no_token.value.detail == "ManagedIdentityCredential authentication unavailable."


@pytest.mark.parametrize("sample", ["sentinel_incident_automation.json", "sentinel_incident_resource.json"])
def test_what_the_sentinel_normalizer_keeps_names_the_incident_to_write_back_to(sample):
    # The two ends of the write-back agree: what intake keeps is what the primitives parse.
    [alert] = normalize_payload(load_payload(sample))
    ref = IncidentRef.parse(alert.source_alert_id)

    assert ref is not None and ref.workspace == "myworkspace" and ref.resource_group == "myrg"
    assert ref.name == load_payload(sample).get("object", load_payload(sample))["name"].casefold()
