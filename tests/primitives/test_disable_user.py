"""disable_user against the sandbox through the production Graph client: each user's only request is one $batch,
read -> disable chained by dependsOn (the disable in the first round trip), and the batch's sub-responses handled
as the separate requests were: already disabled (changed: false, rollback leaves it), 404, a refused read (403),
a refused disable (403), an inner 429 resent after Retry-After, a read that stays throttled; undo and describe."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox import SandboxServer
from sandbox.faults import FaultRuleSpec
from sandbox.seed import CONTOSO_TENANT_ID
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepContext, StepDependencies
from shared.primitives.runner import execute_step

from .user_fixtures import ADELE, MAILBOX, MEGAN, NOBODY, alert, run_context

USER_PATH = f"/users/{ADELE.id}"
CHAIN = [("read", "GET", f"{USER_PATH}?$select=id,userPrincipalName,accountEnabled", None),
         ("disable", "PATCH", USER_PATH, ["read"])]


@pytest.fixture(autouse=True)
def fresh(server: SandboxServer) -> None:
    server.state.reset()


async def disable(deps: StepDependencies, *users):
    return await execute_step(0, {"type": "disable_user"}, alert(*(users or (ADELE,))), run_context(), deps)


def graph_calls(server: SandboxServer) -> list[dict[str, Any]]:
    return [c for c in server.state.calls.list(CONTOSO_TENANT_ID) if c["path"].startswith("/v1.0/")]


def top_level(server: SandboxServer) -> list[dict[str, Any]]:
    return [c for c in graph_calls(server) if not c["batched"]]


def wire(call: dict[str, Any]) -> list[tuple[str, str, str, list[str] | None]]:
    return [(r["id"], r["method"], r["url"], r.get("dependsOn")) for r in call["body"]["requests"]]


def ran(server: SandboxServer, batch: dict[str, Any]) -> list[tuple[str, int]]:
    """The batch's requests Graph ran (a 424 never runs), in order, with their status."""
    return [(c["batchItemId"], c["status"]) for c in graph_calls(server) if c["parentRequestId"] == batch["requestId"]]


def enabled(server: SandboxServer, key: str) -> bool:
    view = server.state.user_view(CONTOSO_TENANT_ID, key)
    assert view is not None
    return view["accountEnabled"]


def fault(server: SandboxServer, **rule: Any) -> None:
    server.state.faults.add(FaultRuleSpec.model_validate(rule))


async def test_the_only_request_is_one_read_then_disable_batch(server, deps) -> None:
    step = await disable(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    [batch] = top_level(server)  # one round trip: no read before it
    assert batch["path"] == "/v1.0/$batch" and wire(batch) == CHAIN
    assert batch["body"]["requests"][1]["body"] == {"accountEnabled": False}
    assert ran(server, batch) == [("read", 200), ("disable", 204)]
    [entry] = step.result["users"]
    assert entry == {"id": ADELE.id, "upn": ADELE.upn, "accountEnabled": {"before": True, "after": False},
                     "changed": True}
    assert step.result["graphRoundTrips"] == 1
    assert enabled(server, ADELE.upn) is False


async def test_each_user_gets_its_own_batch(server, deps) -> None:
    step = await disable(deps, ADELE, MEGAN)

    assert step.status is StepStatus.SUCCEEDED, step.error
    batches = top_level(server)
    assert len(batches) == 2 and all(c["path"] == "/v1.0/$batch" for c in batches)
    assert sorted(r["url"] for c in batches for r in c["body"]["requests"] if r["method"] == "PATCH") == sorted(
        [USER_PATH, f"/users/{MEGAN.id}"])
    assert [u["upn"] for u in step.result["users"]] == [ADELE.upn, MEGAN.upn]
    assert not enabled(server, ADELE.upn) and not enabled(server, MEGAN.upn)


async def test_an_account_already_disabled_is_not_changed_and_rollback_leaves_it(server, deps) -> None:
    step = await disable(deps, MAILBOX)  # disabled in the seed

    assert step.status is StepStatus.SUCCEEDED, step.error
    [batch] = top_level(server)
    assert ran(server, batch) == [("read", 200), ("disable", 204)]
    [entry] = step.result["users"]
    # Decided from the batch's read: the PATCH wrote the same value, a no-op.
    assert entry["accountEnabled"] == {"before": False, "after": False} and entry["changed"] is False
    undone = await PRIMITIVES["disable_user"].undo(step, StepContext(alert(MAILBOX), run_context(), deps))
    assert undone.status is StepStatus.SUCCEEDED and undone.result["users"] == []
    assert len(top_level(server)) == 1  # the undo sent nothing
    assert enabled(server, MAILBOX.upn) is False


async def test_rollback_restores_what_the_read_saw(server, deps) -> None:
    step = await disable(deps)
    undone = await PRIMITIVES["disable_user"].undo(step, StepContext(alert(ADELE), run_context(), deps))

    assert undone.status is StepStatus.SUCCEEDED, undone.error
    assert undone.result["users"] == [{"id": ADELE.id, "upn": ADELE.upn,
                                       "accountEnabled": {"before": False, "after": True}}]
    assert enabled(server, ADELE.upn) is True


async def test_a_missing_user_is_not_found_and_nothing_is_written(server, deps) -> None:
    step = await disable(deps, NOBODY)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_not_found"), step.error
    [batch] = top_level(server)
    assert ran(server, batch) == [("read", 404)]  # the disable got 424: it never ran
    [entry] = step.result["users"]
    assert set(entry) == {"id", "upn", "error"}  # no accountEnabled: rollback has nothing to do


async def test_a_refused_read_still_disables_with_the_before_state_unknown(server, deps) -> None:
    fault(server, method="GET", pathRegex=f"/users/{ADELE.id}$", status=403, times=1)
    step = await disable(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    first, without_read = top_level(server)
    assert wire(first) == CHAIN and wire(without_read) == [("disable", "PATCH", USER_PATH, None)]
    [entry] = step.result["users"]
    assert entry["beforeUnknown"] == "graph_forbidden"
    assert entry["accountEnabled"] == {"before": None, "after": False} and entry["changed"] is True
    assert enabled(server, ADELE.upn) is False


async def test_a_refused_disable_is_the_users_error_with_the_before_state_kept(server, deps) -> None:
    fault(server, method="PATCH", pathRegex=f"/users/{ADELE.id}$", status=403, times=1)
    step = await disable(deps, ADELE, MEGAN)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_forbidden"), step.error
    adele, megan = step.result["users"]
    assert adele["accountEnabled"] == {"before": True} and adele["changed"] is False
    assert adele["error"]["code"] == "graph_forbidden"
    # As the PATCH sent alone was reported: the status's explanation, then Graph's code and message.
    assert adele["error"]["message"].startswith("Riposte's app lacks the permission or directory role for this "
                                                "action. (Authorization_RequestDenied): ")
    assert megan["changed"] is True and "error" not in megan  # one user's failure does not stop another's
    assert enabled(server, ADELE.upn) is True and enabled(server, MEGAN.upn) is False


async def test_a_throttled_disable_is_resent_after_retry_after(server, deps) -> None:
    fault(server, method="PATCH", pathRegex=f"/users/{ADELE.id}$", status=429, retryAfter=0.2, times=1)
    step = await disable(deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    first, again = top_level(server)
    assert ran(server, first) == [("read", 200), ("disable", 429)]
    # The read already succeeded: only the disable goes again, so the before-state stays the one read first.
    assert wire(again) == [("disable", "PATCH", USER_PATH, None)]
    assert step.duration_ms >= 200  # Retry-After honoured
    [entry] = step.result["users"]
    assert entry["accountEnabled"] == {"before": True, "after": False} and entry["changed"] is True
    assert step.result["graphRoundTrips"] == 2


async def test_a_read_that_stays_throttled_leaves_the_user_untouched(server, deps) -> None:
    fault(server, method="GET", pathRegex=f"/users/{ADELE.id}$", status=429, retryAfter=0.05, times=10)
    step = await disable(deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "graph_throttled"), step.error
    assert not any(c["batchItemId"] == "disable" for c in graph_calls(server))
    [entry] = step.result["users"]
    assert "accountEnabled" not in entry
    assert enabled(server, ADELE.upn) is True


def test_describe_says_one_batch_read_then_disable(deps) -> None:
    spec = PRIMITIVES["disable_user"]
    ctx = StepContext(alert(ADELE), run_context(), deps)
    text = spec.describe(spec.params(type="disable_user"), ctx)
    assert text.startswith(f"Would disable: {ADELE.upn} in tenant ")
    assert "one $batch per user" in text and text.index("reads the account") < text.index("blocks sign-in")
    assert spec.describe(spec.params(type="disable_user"), StepContext(alert(), run_context(), deps)).startswith(
        "Would skip")
