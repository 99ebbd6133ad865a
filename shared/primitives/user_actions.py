"""User primitives' building blocks: the alert's targets, revoke sessions, the disable and revoke writes, and the
write chains disable_user and the containment preset (disable_user_and_revoke) send as Graph JSON batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.graph.batch import (
    JSON,
    MAX_BATCH_REQUESTS,
    BatchRetryPolicy,
    BatchStep,
    BatchStepResult,
    send_batch,
)
from shared.graph.errors import odata_error
from shared.models.alert import UserEntity
from shared.models.run import StepError, StepStatus
from shared.primitives.context import AlertContext, StepOutcome
from shared.primitives.graph_errors import from_odata, step_error
from shared.schemas.common import UserTargetParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient


def user_targets(alert: AlertContext, params: UserTargetParams) -> list[UserEntity] | StepOutcome:
    """The alert's users (deduplicated), or the outcome that says why the step cannot act."""
    seen: set[str] = set()
    users = []
    for user in alert.entities.users:
        key = (user.id or user.upn or "").lower()
        if key and key not in seen:
            seen.add(key)
            users.append(user)
    if not users:
        return StepOutcome.skipped("The alert names no user.")
    if alert.tenant_id is None:
        return StepOutcome.skipped("The alert is not attributed to a tenant, so no tenant's users can be changed.")
    if len(users) > params.max_targets:
        return StepOutcome.failed(
            "too_many_targets",
            f"The alert names {len(users)} users; this step acts on at most {params.max_targets} (maxTargets).",
        )
    return users


def user_key(user: UserEntity) -> str:
    # Object id when known; a UPN otherwise (guest UPNs contain '#', which must be escaped in a path).
    return user.id or user.upn or ""


def _label(user: UserEntity) -> dict[str, Any]:
    return {k: v for k, v in {"id": user.id, "upn": user.upn}.items() if v}


def _summarize(per_user: list[dict[str, Any]]) -> StepOutcome:
    failures = [u for u in per_user if u.get("error")]
    result = {"users": per_user}
    if not failures:
        return StepOutcome(StepStatus.SUCCEEDED, result=result)
    first = failures[0]["error"]
    message = f"{len(failures)} of {len(per_user)} users failed; first: {first['message']}"
    return StepOutcome.failed(first["code"], message, result)


async def revoke_sessions(graph: GraphServiceClient, users: list[UserEntity]) -> StepOutcome:
    per_user = []
    for user in users:
        try:
            await graph.users.by_user_id(user_key(user)).revoke_sign_in_sessions.post()
            per_user.append(_label(user) | {"sessionsRevoked": True})
        except odata_error() as exc:
            per_user.append(_label(user) | {"error": from_odata(exc).model_dump()})
    return _summarize(per_user)


# --- fully sequential write chains, as few Graph $batch posts as possible ---------------------------------------
# Graph runs a batch's requests in order only when asked with dependsOn, and refuses a batch that is neither
# fully sequential nor fully parallel ("Batch should be either fully sequential or fully parallel", 400): one
# user's chain (disable -> revoke -> ...) is one fully sequential batch, and users do not share a batch (their
# chains would be parallel to each other, and one user's failure must not stop another's containment).
def user_path(user: UserEntity) -> str:
    """``/users/{id or upn}`` for a raw request (guest UPNs contain '#', which must be escaped)."""
    return f"/users/{quote(user_key(user), safe='@')}"


def disable_write(user: UserEntity, step_id: str = "disable") -> BatchStep:
    return BatchStep(step_id, "PATCH", user_path(user), {"accountEnabled": False}, {"Content-Type": JSON})


def revoke_write(user: UserEntity, step_id: str = "revoke") -> BatchStep:
    return BatchStep(step_id, "POST", f"{user_path(user)}/revokeSignInSessions")


def sequential(writes: Sequence[BatchStep]) -> list[BatchStep]:
    """The writes as a fully sequential chain: each depends on the one before it."""
    return [replace(w, depends_on=(writes[i - 1].id,) if i else ()) for i, w in enumerate(writes)]


def not_sent(step_id: str) -> BatchStepResult:
    """The result of a write that was never sent because an earlier write of its chain failed."""
    return BatchStepResult(step_id, 424, {}, {"error": {"code": "FailedDependency", "message": "Not sent: an "
                                                        "earlier write of the chain failed."}}, attempts=0)


def round_trips(results: dict[str, BatchStepResult]) -> int:
    """$batch posts behind one send_batch call: attempt n was a post, and a step resent last went in the last one."""
    return max((r.attempts for r in results.values()), default=0)


async def send_chain(graph: GraphServiceClient, writes: Sequence[BatchStep],
                     policy: BatchRetryPolicy | None = None) -> tuple[dict[str, BatchStepResult], int]:
    """Send ``writes`` in this order as fully sequential ``$batch`` posts: one post for up to
    MAX_BATCH_REQUESTS writes (the usual case), else consecutive chunks, the next one only once the previous
    fully succeeded (dependsOn cannot reach across batches). Throttled writes are resent by send_batch,
    honouring Retry-After. Returns every write's result by id (424 for the ones never sent) and the number of
    $batch posts, retries included."""
    results: dict[str, BatchStepResult] = {}
    posts = 0
    for start in range(0, len(writes), MAX_BATCH_REQUESTS):
        chunk = sequential(writes[start:start + MAX_BATCH_REQUESTS])
        if any(not r.ok for r in results.values()):
            results.update((w.id, not_sent(w.id)) for w in chunk)
            continue
        got = await send_batch(graph, chunk, policy)
        posts += round_trips(got)
        results.update(got)
    return results, posts


async def send_chain_caught(graph: GraphServiceClient, writes: Sequence[BatchStep],
                            policy: BatchRetryPolicy | None = None) -> tuple[dict[str, BatchStepResult], int]:
    """send_chain, with a ``$batch`` post that itself failed (after the SDK's own retries) recorded as the first
    write's failure and the others' 424: nothing was written."""
    try:
        return await send_chain(graph, writes, policy)
    except odata_error() as exc:
        status = exc.response_status_code or 0
        first = BatchStepResult(writes[0].id, status, {}, {"error": {"code": getattr(exc.error, "code", None)}})
        return {writes[0].id: first} | {w.id: not_sent(w.id) for w in writes[1:]}, 1


async def send_parallel(graph: GraphServiceClient, writes: Sequence[BatchStep],
                        policy: BatchRetryPolicy | None = None) -> tuple[dict[str, BatchStepResult], int]:
    """Independent writes as fully parallel ``$batch`` posts (no dependsOn), MAX_BATCH_REQUESTS per post."""
    results: dict[str, BatchStepResult] = {}
    posts = 0
    for start in range(0, len(writes), MAX_BATCH_REQUESTS):
        got = await send_batch(graph, [replace(w, depends_on=()) for w in writes[start:start + MAX_BATCH_REQUESTS]],
                               policy)
        posts += round_trips(got)
        results.update(got)
    return results, posts


def write_error(result: BatchStepResult) -> StepError:
    return step_error(result.status, result.error_code)
