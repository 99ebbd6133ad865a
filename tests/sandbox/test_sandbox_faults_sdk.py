"""Injected faults and latency, seen through the production client and its retry middleware."""

from __future__ import annotations

import time

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User

from sandbox.seed import CONTOSO_TENANT_ID, FABRIKAM_TENANT_ID
from shared.graph import GraphClientFactory

from .helpers import ADELE_UPN, Probe, add_fault, bearer

KIOTA_DEFAULT_RETRY_DELAY_S = 3.0  # what the stock handler waits (at least) when it ignores Retry-After


async def test_throttled_patch_is_retried_after_retry_after(factory: GraphClientFactory, probe: Probe) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    await client.users.by_user_id(ADELE_UPN).get()  # warm-up (lazy SDK imports, connection), not timed
    probe.clear_calls()
    retry_after = 0.2
    probe.fault(method="PATCH", pathRegex=r"/users/[^/]+$", status=429, retryAfter=retry_after, times=1)

    started = time.monotonic()
    await client.users.by_user_id(ADELE_UPN).patch(User(account_enabled=False))
    elapsed = time.monotonic() - started

    log = probe.calls()
    assert [(c["method"], c["status"]) for c in log] == [("PATCH", 429), ("PATCH", 204)]
    assert log[0]["faultId"] is not None
    assert elapsed >= retry_after
    # Fractional Retry-After is honoured (stock kiota would treat "0.2" as absent and wait 3+ s).
    assert elapsed < KIOTA_DEFAULT_RETRY_DELAY_S
    assert probe.user(ADELE_UPN)["accountEnabled"] is False


def test_throttle_response_looks_like_graph(control: httpx.Client) -> None:
    add_fault(control, method="GET", pathRegex="/users/", status=429, retryAfter=2.128, times=1)

    response = control.get(f"/v1.0/users/{ADELE_UPN}", headers=bearer())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2.128"
    error = response.json()["error"]
    assert error["code"] == "TooManyRequests"
    assert error["innerError"]["request-id"] == response.headers["request-id"]
    assert control.get(f"/v1.0/users/{ADELE_UPN}", headers=bearer()).status_code == 200  # rule spent


async def test_persistent_503_gives_up_after_sdk_retries(factory: GraphClientFactory, probe: Probe) -> None:
    probe.fault(method="GET", pathRegex="/users/", status=503, retryAfter=0.01)  # forever

    with pytest.raises(ODataError) as caught:
        await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).get()

    assert caught.value.response_status_code == 503
    assert len(probe.calls()) == 4  # first try + kiota's 3 retries
    rule = probe.faults()[0]
    assert (rule["hits"], rule["remaining"]) == (4, None)


async def test_fault_scoped_to_one_tenant(factory: GraphClientFactory, probe: Probe) -> None:
    probe.fault(pathRegex="/users/", tenantId=FABRIKAM_TENANT_ID, status=403, code="Authorization_RequestDenied")

    assert await factory.for_tenant(CONTOSO_TENANT_ID).users.by_user_id(ADELE_UPN).get() is not None
    with pytest.raises(ODataError) as caught:
        await factory.for_tenant(FABRIKAM_TENANT_ID).users.by_user_id("anyone").get()

    assert caught.value.response_status_code == 403
    assert caught.value.error is not None and caught.value.error.code == "Authorization_RequestDenied"


async def test_global_and_rule_latency(factory: GraphClientFactory, probe: Probe) -> None:
    client = factory.for_tenant(CONTOSO_TENANT_ID)
    await client.users.by_user_id(ADELE_UPN).get()  # warm-up: imports and connection
    probe.latency(150)
    probe.fault(method="GET", pathRegex="/memberOf$", latencyMs=200, times=1)  # slow, not failing

    started = time.monotonic()
    await client.users.by_user_id(ADELE_UPN).get()
    plain = time.monotonic() - started
    started = time.monotonic()
    member_of = await client.users.by_user_id(ADELE_UPN).member_of.get()
    slowed = time.monotonic() - started

    assert plain >= 0.15
    assert slowed >= 0.35
    assert member_of is not None and member_of.value
    assert probe.calls()[-1]["status"] == 200
