"""User primitives: disable, revoke sessions, and the containment preset that does both in one batch."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User

from shared.graph.batch import BatchStep, send_batch
from shared.models.alert import UserEntity
from shared.models.run import StepStatus
from shared.primitives.context import AlertContext, StepOutcome
from shared.primitives.graph_errors import from_odata, step_error
from shared.primitives.params import UserTargetParams


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


async def disable_users(graph: GraphServiceClient, users: list[UserEntity]) -> StepOutcome:
    per_user = []
    for user in users:
        try:
            await graph.users.by_user_id(user_key(user)).patch(User(account_enabled=False))
            per_user.append(_label(user) | {"accountEnabled": {"after": False}})
        except ODataError as exc:
            per_user.append(_label(user) | {"error": from_odata(exc).model_dump()})
    return _summarize(per_user)


async def revoke_sessions(graph: GraphServiceClient, users: list[UserEntity]) -> StepOutcome:
    per_user = []
    for user in users:
        try:
            await graph.users.by_user_id(user_key(user)).revoke_sign_in_sessions.post()
            per_user.append(_label(user) | {"sessionsRevoked": True})
        except ODataError as exc:
            per_user.append(_label(user) | {"error": from_odata(exc).model_dump()})
    return _summarize(per_user)


async def disable_and_revoke(graph: GraphServiceClient, users: list[UserEntity]) -> StepOutcome:
    """One Graph round trip: per user, disable then (dependsOn) revoke, so a token refreshed between
    the two calls cannot outlive the revoke."""
    steps = []
    for n, user in enumerate(users):
        path = f"/users/{quote(user_key(user), safe='@')}"
        steps.append(BatchStep(f"d{n}", "PATCH", path, {"accountEnabled": False},
                               {"Content-Type": "application/json"}))
        steps.append(BatchStep(f"r{n}", "POST", f"{path}/revokeSignInSessions", depends_on=(f"d{n}",)))
    results = await send_batch(graph, steps)
    per_user = []
    for n, user in enumerate(users):
        disabled, revoked = results[f"d{n}"], results[f"r{n}"]
        entry = _label(user) | {"accountEnabled": {"after": False} if disabled.ok else None,
                                "sessionsRevoked": revoked.ok}
        failed = disabled if not disabled.ok else (revoked if not revoked.ok else None)
        if failed is not None:
            error = step_error(failed.status, failed.error_code)
            if failed is revoked and revoked.status == 424:
                error = step_error(disabled.status, disabled.error_code)
            entry["error"] = error.model_dump()
        per_user.append(entry)
    outcome = _summarize(per_user)
    outcome.result["graphRoundTrips"] = max(r.attempts for r in results.values())
    return outcome
