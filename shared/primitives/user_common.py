"""Building blocks of the user-recovery primitives: labels, summaries, reads with $select, object ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.graph import reads
from shared.graph.errors import odata_error
from shared.models.alert import UserEntity
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.user_actions import user_key

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError


def label(user: UserEntity) -> dict[str, Any]:
    return {k: v for k, v in {"id": user.id, "upn": user.upn}.items() if v}


def error_entry(exc: ODataError) -> dict[str, Any]:
    return {"error": from_odata(exc).model_dump()}


def summarize(per_user: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> StepOutcome:
    """Succeeded when no user has an error; otherwise failed with the first user's error, keeping every
    user's entry in the result (what did change is still recorded, so rollback can reverse it)."""
    failures = [u for u in per_user if u.get("error")]
    result = {"users": per_user, **(extra or {})}
    if not failures:
        return StepOutcome(StepStatus.SUCCEEDED, result=result)
    first = failures[0]["error"]
    message = f"{len(failures)} of {len(per_user)} users failed; first: {first['message']}"
    return StepOutcome.failed(first["code"], message, result)


async def read_user(graph: GraphServiceClient, key: str, *fields: str) -> reads.GraphUser | None:
    """The user's id, UPN and `fields` (Graph's names), read as JSON: no SDK model to parse (shared/graph/reads.py)."""
    return await reads.read_user(graph, key, *fields)


async def object_id(graph: GraphServiceClient, user: UserEntity) -> str:
    """The user's object id: from the alert, else looked up by UPN (raises ODataError, e.g. 404)."""
    if user.id:
        return user.id
    found = await read_user(graph, user_key(user))
    if found is None or not found.id:
        raise LookupError(f"no object id for {user.upn}")
    return found.id


def entries(step: StepResult) -> list[dict[str, Any]]:
    """The per-user entries a step recorded (an empty list for an older or foreign shape)."""
    users = step.result.get("users") if isinstance(step.result, dict) else None
    return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []


def describe_users(ctx: StepContext, max_targets: int) -> list[str] | None:
    """The names the describe texts use, or None when the alert names nobody."""
    names = [u.upn or u.id or "?" for u in ctx.alert.entities.users]
    return names[:max_targets] if names else None


def entity(entry: dict[str, Any]) -> UserEntity:
    """The user a recorded entry names (for undo)."""
    return UserEntity(id=entry.get("id"), upn=entry.get("upn"))


# --- accountEnabled: enable_user (disable_user sends one $batch: user_disable.py), and both undos -----------
async def set_account_enabled(graph: GraphServiceClient, users: list[UserEntity], enabled: bool) -> StepOutcome:
    """Set accountEnabled on each user, recording the value before. A user already in that state is not
    touched (idempotent). The before-read is best effort: without User.Read.All it is recorded as unknown."""
    # msgraph's models are imported where used: `import function_app` stays light (docs/benchmarks.md).
    from msgraph.generated.models.user import User

    per_user = []
    for user in users:
        key, entry = user_key(user), label(user)
        before: bool | None = None
        try:
            current = await read_user(graph, key, "accountEnabled")
            before = current.account_enabled if current else None
        except odata_error() as exc:
            if exc.response_status_code == 404:
                per_user.append(entry | error_entry(exc))
                continue
            entry["beforeUnknown"] = from_odata(exc).code
        if before is enabled:
            per_user.append(entry | {"accountEnabled": {"before": before, "after": enabled}, "changed": False})
            continue
        try:
            await graph.users.by_user_id(key).patch(User(account_enabled=enabled))
        except odata_error() as exc:
            per_user.append(entry | {"accountEnabled": {"before": before}, "changed": False} | error_entry(exc))
            continue
        per_user.append(entry | {"accountEnabled": {"before": before, "after": enabled}, "changed": True})
    return summarize(per_user)


async def restore_account_enabled(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Undo of enable_user and disable_user: put accountEnabled back to its recorded before-value for each
    user the step changed (unknown before: the opposite of what the step set)."""
    from msgraph.generated.models.user import User

    graph = ctx.tenant_graph()
    per_user = []
    for entry in entries(step):
        state = entry.get("accountEnabled") or {}
        changed = entry.get("changed", "after" in state and not entry.get("error"))
        if not changed or "after" not in state:
            continue
        target = state.get("before") if state.get("before") is not None else not state["after"]
        user = entity(entry)
        try:
            await graph.users.by_user_id(user_key(user)).patch(User(account_enabled=target))
        except odata_error() as exc:
            per_user.append(label(user) | error_entry(exc))
            continue
        per_user.append(label(user) | {"accountEnabled": {"before": state["after"], "after": target}})
    if not per_user:
        return StepOutcome(StepStatus.SUCCEEDED, result={"users": []}, reason="the step changed no account")
    return summarize(per_user)
