"""JSON batching: the sandbox's $batch rules and shared.graph.batch.send_batch on top of the SDK adapter."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from msgraph import GraphServiceClient
from msgraph.generated.models.user import User
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem

from sandbox.seed import CONTOSO_TENANT_ID
from shared.graph import (
    BatchError,
    BatchRetryPolicy,
    BatchStep,
    GraphClientFactory,
    GraphSettings,
    batch_payload,
    send_batch,
)

from .helpers import ADELE_UPN, MEGAN_UPN, Probe, add_fault, bearer, calls, sandbox_user


def _disable(client: GraphServiceClient, upn: str, step_id: str = "disable") -> BatchStep:
    info = client.users.by_user_id(upn).to_patch_request_information(User(account_enabled=False))
    return BatchStep.from_request_information(step_id, info, client.request_adapter.base_url)


def _revoke(client: GraphServiceClient, upn: str, step_id: str = "revoke", after: tuple[str, ...] = ()) -> BatchStep:
    info = client.users.by_user_id(upn).revoke_sign_in_sessions.to_post_request_information()
    return BatchStep.from_request_information(step_id, info, client.request_adapter.base_url, depends_on=after)


def _batches(probe: Probe) -> list[dict[str, Any]]:
    return [c for c in probe.calls() if c["path"] == "/v1.0/$batch"]


def _inner(probe: Probe) -> list[dict[str, Any]]:
    return [c for c in probe.calls() if c["batched"]]


async def test_disable_then_revoke_sends_depends_on_and_runs_in_order(
    factory: GraphClientFactory, probe: Probe
) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    before = probe.user(ADELE_UPN)

    results = await send_batch(client, [_disable(client, ADELE_UPN), _revoke(client, ADELE_UPN, after=("disable",))])

    assert (results["disable"].status, results["revoke"].status) == (204, 200)
    assert results["revoke"].body["value"] is True  # the JSON body msgraph-core would have dropped
    [batch] = _batches(probe)
    wire = {r["id"]: r for r in batch["body"]["requests"]}
    assert wire["revoke"]["dependsOn"] == ["disable"]
    assert "depends_on" not in wire["revoke"]
    inner = _inner(probe)
    assert [(c["batchItemId"], c["method"]) for c in inner] == [("disable", "PATCH"), ("revoke", "POST")]
    assert {c["parentRequestId"] for c in inner} == {batch["requestId"]}
    after = probe.user(ADELE_UPN)
    assert after["accountEnabled"] is False
    assert after["signInSessionsValidFromDateTime"] > before["signInSessionsValidFromDateTime"]


async def test_failed_dependency_yields_424_and_never_runs(factory: GraphClientFactory, probe: Probe) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    ghost = "ghost@contoso-demo.onmicrosoft.com"

    results = await send_batch(client, [_disable(client, ghost), _revoke(client, ghost, after=("disable",))])

    assert results["disable"].status == 404 and results["disable"].error_code == "Request_ResourceNotFound"
    assert results["revoke"].status == 424
    assert [c["batchItemId"] for c in _inner(probe)] == ["disable"]


async def test_results_are_matched_by_id_although_answered_out_of_order(
    factory: GraphClientFactory, probe: Probe, graph_settings: GraphSettings
) -> None:
    graph_url = graph_settings.base_url
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    upns = [ADELE_UPN, MEGAN_UPN, f"admin@{ADELE_UPN.split('@')[1]}"]
    steps = [
        BatchStep(f"u{i}", "GET", f"/users/{upn}?$select=id,userPrincipalName") for i, upn in enumerate(upns)
    ]
    async with httpx.AsyncClient() as http:
        raw = (await http.post(f"{graph_url}/$batch", json=batch_payload(steps), headers=bearer())).json()
    assert [r["id"] for r in raw["responses"]] != [s.id for s in steps]  # the sandbox does reorder
    probe.clear_calls()

    results = await send_batch(client, steps)

    assert {step_id: r.body["userPrincipalName"] for step_id, r in results.items()} == {
        s.id: upn for s, upn in zip(steps, upns, strict=True)
    }


async def test_inner_429_is_retried_alone_after_its_retry_after(
    factory: GraphClientFactory, probe: Probe
) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    retry_after = 0.2
    probe.fault(method="POST", pathRegex="/revokeSignInSessions$", status=429, retryAfter=retry_after, times=1)
    steps = [
        _disable(client, ADELE_UPN),
        _revoke(client, ADELE_UPN, after=("disable",)),
        BatchStep("megan", "GET", f"/users/{MEGAN_UPN}"),
    ]

    started = time.monotonic()
    results = await send_batch(client, steps)
    elapsed = time.monotonic() - started

    assert {k: (r.status, r.attempts) for k, r in results.items()} == {
        "disable": (204, 1), "revoke": (200, 2), "megan": (200, 1)}
    first, second = _batches(probe)
    assert first["status"] == second["status"] == 200
    # Only the throttled request is resent; its dependency already succeeded, so dependsOn is dropped.
    assert second["body"]["requests"] == [{k: v for k, v in first["body"]["requests"][1].items() if k != "dependsOn"}]
    assert elapsed >= retry_after
    assert [c["status"] for c in _inner(probe) if c["batchItemId"] == "revoke"] == [429, 200]


async def test_dependant_of_a_throttled_request_is_resent_with_it(
    factory: GraphClientFactory, probe: Probe
) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    probe.fault(method="PATCH", pathRegex="/users/", status=429, retryAfter=0.05, times=1)

    results = await send_batch(client, [_disable(client, ADELE_UPN), _revoke(client, ADELE_UPN, after=("disable",))])

    assert {k: (r.status, r.attempts) for k, r in results.items()} == {"disable": (204, 2), "revoke": (200, 2)}
    second = _batches(probe)[1]["body"]["requests"]
    assert [(r["id"], r.get("dependsOn")) for r in second] == [("disable", None), ("revoke", ["disable"])]
    assert [c["batchItemId"] for c in _inner(probe) if c["status"] < 300] == ["disable", "revoke"]


async def test_inner_throttling_gives_up_after_max_attempts(factory: GraphClientFactory, probe: Probe) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    probe.fault(method="GET", pathRegex="/users/", status=429, retryAfter=0.01)  # forever

    results = await send_batch(client, [BatchStep("get", "GET", f"/users/{ADELE_UPN}")],
                               BatchRetryPolicy(max_attempts=3))

    assert (results["get"].status, results["get"].attempts) == (429, 3)
    assert results["get"].header("retry-after") == "0.01"
    assert len(_batches(probe)) == 3


async def test_long_retry_after_is_left_to_the_caller(factory: GraphClientFactory, probe: Probe) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    probe.fault(method="GET", pathRegex="/users/", status=429, retryAfter=120, times=1)

    results = await send_batch(client, [BatchStep("get", "GET", f"/users/{ADELE_UPN}")],
                               BatchRetryPolicy(max_delay_s=5))

    assert (results["get"].status, results["get"].attempts) == (429, 1)
    assert len(_batches(probe)) == 1


@pytest.mark.parametrize(
    "steps",
    [
        [BatchStep(str(i), "GET", "/users") for i in range(21)],
        [BatchStep("a", "GET", "/users"), BatchStep("A", "GET", "/users")],
        [BatchStep("a", "GET", "/users", depends_on=("b",))],
        [BatchStep("a", "GET", "https://graph.microsoft.com/v1.0/users")],
        [],
    ],
    ids=["21-steps", "duplicate-ids", "unknown-dependency", "absolute-url", "empty"],
)
async def test_send_batch_refuses_bad_batches_before_sending(
    factory: GraphClientFactory, probe: Probe, steps: list[BatchStep]
) -> None:
    with pytest.raises(BatchError):
        await send_batch(factory.for_tenant(CONTOSO_TENANT_ID), steps)
    assert probe.calls() == []


# --- the sandbox's own $batch rules (raw HTTP, since the point is what a bad client would send) ---

def _raw_batch(control: httpx.Client, payload: Any) -> httpx.Response:
    return control.post("/v1.0/$batch", json=payload, headers=bearer())


@pytest.mark.parametrize(
    "payload",
    [
        {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(21)]},
        {"requests": [{"id": "a", "method": "GET", "url": "/users"}, {"id": "A", "method": "GET", "url": "/users"}]},
        {"requests": [{"id": "1", "method": "PATCH", "url": f"/users/{ADELE_UPN}", "body": {"accountEnabled": False}}]},
        {"requests": [{"id": "1", "method": "GET"}]},
        {"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]},
        {"requests": [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["2"]},
                      {"id": "2", "method": "GET", "url": "/users", "dependsOn": ["1"]}]},
        {"requests": "nope"},
        [1, 2],
    ],
    ids=["21-requests", "duplicate-ids", "body-without-content-type", "no-url", "unknown-dependency", "cycle",
         "requests-not-a-list", "not-an-object"],
)
def test_malformed_batches_are_400(control: httpx.Client, payload: Any) -> None:
    response = _raw_batch(control, payload)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"
    assert sandbox_user(control, ADELE_UPN)["accountEnabled"] is True
    assert [c["path"] for c in calls(control)] == ["/v1.0/$batch"]  # nothing inside ran


def test_unparseable_batch_body_is_400(control: httpx.Client) -> None:
    response = control.post("/v1.0/$batch", content=b'{"requests": [', headers={**bearer(),
                            "Content-Type": "application/json"})

    assert response.status_code == 400


def test_twenty_requests_are_fine(control: httpx.Client) -> None:
    response = _raw_batch(control, {"requests": [{"id": str(i), "method": "GET", "url": "/users"} for i in range(20)]})

    assert response.status_code == 200
    assert sorted(int(r["id"]) for r in response.json()["responses"]) == list(range(20))


def test_inner_throttle_keeps_outer_200_and_carries_retry_after(control: httpx.Client) -> None:
    add_fault(control, method="GET", pathRegex=r"/users/[^/]+$", status=429, retryAfter=0.5, times=1)

    response = _raw_batch(control, {"requests": [{"id": "1", "method": "GET", "url": f"/users/{ADELE_UPN}"},
                                                 {"id": "2", "method": "GET", "url": "/users"}]})

    assert response.status_code == 200
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert by_id["1"]["status"] == 429
    assert by_id["1"]["headers"]["Retry-After"] == "0.5"
    assert by_id["1"]["body"]["error"]["code"] == "TooManyRequests"
    assert by_id["2"]["status"] == 200


def test_inner_absolute_url_or_unknown_route_fails_alone(control: httpx.Client) -> None:
    response = _raw_batch(control, {"requests": [
        {"id": "abs", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"},
        {"id": "route", "method": "GET", "url": "/nonsense"},
        {"id": "ok", "method": "GET", "url": "users"},  # no leading slash is tolerated
    ]})

    assert response.status_code == 200
    statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
    assert statuses == {"abs": 400, "route": 400, "ok": 200}


async def test_msgraph_core_batch_loses_depends_on(factory: GraphClientFactory, probe: Probe) -> None:
    """Why shared.graph.batch exists. If this starts failing, msgraph-core fixed its batch bugs."""

    client = factory.for_tenant(CONTOSO_TENANT_ID)
    disable = BatchRequestItem(client.users.by_user_id(ADELE_UPN).to_patch_request_information(
        User(account_enabled=False)), id="1")
    revoke = BatchRequestItem(client.users.by_user_id(ADELE_UPN).revoke_sign_in_sessions
                              .to_post_request_information(), id="2", depends_on=["1"])

    response = await client.batch.post(BatchRequestContent({"1": disable, "2": revoke}))

    wire = _batches(probe)[0]["body"]["requests"]
    assert "depends_on" in wire[1] and "dependsOn" not in wire[1]
    assert [c["method"] for c in _inner(probe)] == ["POST", "PATCH"]  # revoke ran first
    assert response.responses["2"].status == 200 and response.responses["2"].body is None


# --- dependsOn as the containment preset uses it: read -> disable -> revoke ------------------------------------
def _read_disable_revoke(key: str, chained: bool = True) -> dict[str, Any]:
    def after(step_id: str) -> dict[str, Any]:
        return {"dependsOn": [step_id]} if chained else {}

    return {"requests": [
        {"id": "read", "method": "GET", "url": f"/users/{key}?$select=id,accountEnabled"},
        {"id": "disable", "method": "PATCH", "url": f"/users/{key}", "body": {"accountEnabled": False},
         "headers": {"Content-Type": "application/json"}, **after("read")},
        {"id": "revoke", "method": "POST", "url": f"/users/{key}/revokeSignInSessions", **after("disable")},
    ]}


def test_a_chained_read_sees_the_state_before_the_write(control: httpx.Client) -> None:
    response = _raw_batch(control, _read_disable_revoke(ADELE_UPN))

    assert response.status_code == 200
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert by_id["read"]["status"] == 200 and by_id["read"]["body"]["accountEnabled"] is True
    assert (by_id["disable"]["status"], by_id["revoke"]["status"]) == (204, 200)
    assert [c["batchItemId"] for c in calls(control) if c["batched"]] == ["read", "disable", "revoke"]
    assert sandbox_user(control, ADELE_UPN)["accountEnabled"] is False


def test_without_depends_on_the_order_is_not_promised(control: httpx.Client) -> None:
    """Graph runs independent requests in any order; the sandbox runs them last-first, so a read that should
    come first only does with dependsOn."""
    by_id = {r["id"]: r for r in _raw_batch(control, _read_disable_revoke(ADELE_UPN, chained=False)).json()[
        "responses"]}

    assert by_id["read"]["status"] == 200 and by_id["read"]["body"]["accountEnabled"] is False
    assert [c["batchItemId"] for c in calls(control) if c["batched"]] == ["revoke", "disable", "read"]


@pytest.mark.parametrize(("status", "retry_after"), [(403, None), (429, 0.5), (500, None)])
def test_a_failed_read_fails_its_dependants_424_transitively_and_they_never_run(
    control: httpx.Client, status: int, retry_after: float | None
) -> None:
    add_fault(control, method="GET", pathRegex=r"/users/[^/]+$", status=status, times=1,
              **({"retryAfter": retry_after} if retry_after else {}))

    response = _raw_batch(control, _read_disable_revoke(ADELE_UPN))

    assert response.status_code == 200  # the batch itself; each request has its own status
    by_id = {r["id"]: r for r in response.json()["responses"]}
    assert [by_id[i]["status"] for i in ("read", "disable", "revoke")] == [status, 424, 424]
    assert by_id["disable"]["body"]["error"]["code"] == "FailedDependency"
    assert "'read'" in by_id["disable"]["body"]["error"]["message"]
    assert "'disable'" in by_id["revoke"]["body"]["error"]["message"]  # revoke names its own dependency
    if retry_after:
        assert by_id["read"]["headers"]["Retry-After"] == "0.5"
    assert [c["batchItemId"] for c in calls(control) if c["batched"]] == ["read"]  # the 424s were not executed
    assert sandbox_user(control, ADELE_UPN)["accountEnabled"] is True


def test_a_failed_middle_request_stops_only_what_comes_after_it(control: httpx.Client) -> None:
    add_fault(control, method="PATCH", pathRegex=r"/users/[^/]+$", status=403, times=1)

    by_id = {r["id"]: r for r in _raw_batch(control, _read_disable_revoke(ADELE_UPN)).json()["responses"]}

    assert [by_id[i]["status"] for i in ("read", "disable", "revoke")] == [200, 403, 424]
    assert [c["batchItemId"] for c in calls(control) if c["batched"]] == ["read", "disable"]


def test_items_answered_without_running_carry_their_own_ids_like_items_that_ran(control: httpx.Client) -> None:
    """A 424 or an unusable URL is answered for the item, as an item that ran is: its own request id, and its own
    client-request-id (its header, else its request id) in the headers and the innerError, never the batch's."""
    response = control.post("/v1.0/$batch", headers={**bearer(), "client-request-id": "the-batch"}, json={"requests": [
        {"id": "ran", "method": "GET", "url": "/users/nobody@nowhere.example"},
        {"id": "dependant", "dependsOn": ["ran"], "method": "GET", "url": f"/users/{ADELE_UPN}"},
        {"id": "named", "dependsOn": ["ran"], "method": "GET", "url": f"/users/{ADELE_UPN}",
         "headers": {"client-request-id": "item-4"}},
        {"id": "absolute", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"},
    ]})

    items = {r["id"]: r for r in response.json()["responses"]}
    assert {i: r["status"] for i, r in items.items()} == {"ran": 404, "dependant": 424, "named": 424, "absolute": 400}
    for item in items.values():
        headers, inner = item["headers"], item["body"]["error"]["innerError"]
        assert headers["request-id"] == inner["request-id"]
        assert headers["client-request-id"] == inner["client-request-id"] != "the-batch"
    assert items["named"]["headers"]["client-request-id"] == "item-4"
    assert items["dependant"]["headers"]["client-request-id"] == items["dependant"]["headers"]["request-id"]
