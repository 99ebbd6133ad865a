"""Identity Protection verdicts on the alert's users: confirm_user_compromised and dismiss_user_risk.

Graph facts (graph-contract.md 14a, 14b; Entra ID P2): `POST /identityProtection/riskyUsers/
confirmCompromised` and `.../dismiss` take `{"userIds": [...]}` (object ids) and answer 204.
confirmCompromised "sets the targeted user's risk level to high" (riskState confirmedCompromised,
riskDetail adminConfirmedUserCompromised); dismiss "sets the targeted user's risk level to none"
(riskState dismissed, riskDetail adminDismissedAllRiskForUser). Least-privileged application
permission: IdentityRiskyUser.ReadWrite.All (it also reads `GET /identityProtection/riskyUsers/{id}`,
the before-state; 404 there means Identity Protection holds no risk for the user). User.Read.All
resolves the object id of a user the alert names only by UPN.

One Graph call acts on every user of the step. A user already in the target state is left alone.
Neither can be undone: there is no API that sets a risk level back, and a dismiss after a confirm
(or a confirm after a dismiss) would record a verdict nobody made. The before-state stays in the
result for the technician.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.graph.errors import is_odata_error, odata_error
from shared.models.graph_enums import CONFIRMED_COMPROMISED, RISK_DISMISSED
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.primitives.user_actions import user_targets
from shared.primitives.user_common import describe_users, error_entry, label, object_id, summarize
from shared.schemas.common import UserTargetParams
from shared.schemas.user_risk import ConfirmUserCompromisedParams, DismissUserRiskParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.risky_user import RiskyUser

CONFIRMED = CONFIRMED_COMPROMISED
DISMISSED = RISK_DISMISSED


def _enum(value: Any) -> str | None:
    return getattr(value, "value", value)


def risk_view(risky: RiskyUser | None) -> dict[str, Any] | None:
    if risky is None:
        return None
    updated = risky.risk_last_updated_date_time
    return {"riskLevel": _enum(risky.risk_level), "riskState": _enum(risky.risk_state),
            "riskDetail": _enum(risky.risk_detail), "riskLastUpdatedDateTime": updated.isoformat() if updated else None}


def _already(before: dict[str, Any] | None, target: dict[str, str]) -> bool:
    # No risk recorded (404) is not skipped: the action call is what tells a user without risk (a no-op)
    # from a user who does not exist (404).
    return before is not None and before.get("riskState") == target["riskState"]


async def _verdict(graph: GraphServiceClient, users, target: dict[str, str]) -> StepOutcome:
    # msgraph's request bodies are imported where used: `import function_app` stays light.
    from msgraph.generated.identity_protection.risky_users.confirm_compromised.confirm_compromised_post_request_body import (  # noqa: E501
        ConfirmCompromisedPostRequestBody,
    )
    from msgraph.generated.identity_protection.risky_users.dismiss.dismiss_post_request_body import (
        DismissPostRequestBody,
    )

    per_user: list[dict[str, Any]] = []
    to_change: list[dict[str, Any]] = []
    for user in users:
        entry = label(user)
        per_user.append(entry)
        try:
            entry["id"] = await object_id(graph, user)
        except (odata_error(), LookupError) as exc:
            entry |= error_entry(exc) if is_odata_error(exc) else {
                "error": {"code": "graph_not_found", "message": str(exc)}}
            continue
        before: dict[str, Any] | None = None
        try:
            before = risk_view(await graph.identity_protection.risky_users.by_risky_user_id(entry["id"]).get())
        except odata_error() as exc:
            if exc.response_status_code != 404:  # 404: Identity Protection holds no risk for this user
                entry["beforeUnknown"] = from_odata(exc).code
        if _already(before, target) and "beforeUnknown" not in entry:
            entry |= {"risk": {"before": before, "after": before}, "changed": False}
        else:
            entry["risk"] = {"before": before}
            to_change.append(entry)
    if to_change:
        ids = [e["id"] for e in to_change]
        risky_users = graph.identity_protection.risky_users
        try:
            if target is CONFIRMED:
                await risky_users.confirm_compromised.post(ConfirmCompromisedPostRequestBody(user_ids=ids))
            else:
                await risky_users.dismiss.post(DismissPostRequestBody(user_ids=ids))
        except odata_error() as exc:
            for entry in to_change:
                entry |= {"changed": False} | error_entry(exc)
        else:
            for entry in to_change:
                no_risk = target is DISMISSED and entry["risk"]["before"] is None and "beforeUnknown" not in entry
                entry["risk"]["after"] = None if no_risk else dict(target)  # dismissing no risk changes nothing
                entry["changed"] = not no_risk
    return summarize(per_user)


def _handler(target: dict[str, str]):
    async def handler(params: UserTargetParams, ctx: StepContext) -> StepOutcome:
        users = user_targets(ctx.alert, params)
        if isinstance(users, StepOutcome):
            return users
        return await _verdict(ctx.tenant_graph(), users, target)

    return handler


def describe_confirm(params: ConfirmUserCompromisedParams, ctx: StepContext) -> str:
    names = describe_users(ctx, params.max_targets)
    if names is None:
        return "Would skip: the alert names no user to confirm compromised."
    return (f"Would confirm {', '.join(names)} compromised in Entra ID Protection (tenant {ctx.alert.tenant_id}): "
            "user risk becomes high, so risk-based Conditional Access policies apply. This cannot be undone.")


def describe_dismiss(params: DismissUserRiskParams, ctx: StepContext) -> str:
    names = describe_users(ctx, params.max_targets)
    if names is None:
        return "Would skip: the alert names no user whose risk to dismiss."
    return (f"Would dismiss the user risk of {', '.join(names)} in Entra ID Protection (tenant "
            f"{ctx.alert.tenant_id}): risk level none, state dismissed. This cannot be undone.")


register(
    Primitive(
        "confirm_user_compromised", ConfirmUserCompromisedParams,
        "Confirm each user named by the alert compromised in Entra ID Protection (risk high; needs Entra ID P2). "
        "Cannot be undone.",
        ("IdentityRiskyUser.ReadWrite.All", "User.Read.All"), (),
        idempotent=True, needs_user=True,
        handler=_handler(CONFIRMED), describe=describe_confirm,
    ),
    Primitive(
        "dismiss_user_risk", DismissUserRiskParams,
        "Dismiss the Entra ID Protection user risk of each user named by the alert (risk none; needs Entra ID P2), "
        "e.g. for a false positive. Cannot be undone.",
        ("IdentityRiskyUser.ReadWrite.All", "User.Read.All"), (),
        idempotent=True, needs_user=True,
        handler=_handler(DISMISSED), describe=describe_dismiss,
    ),
)
