"""What a flow action would do, in words: for simulation and for simulated runs."""

from __future__ import annotations

from typing import Any

from shared.durations import format_duration
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepContext
from shared.schemas.flow import FLOW_ACTIONS, ApprovalParams, ConditionParams, WaitParams, WaitUntilParams


def describe_action(action: dict[str, Any], ctx: StepContext) -> tuple[str, bool, bool]:
    """(what the step would do, destructive, reversible) for a primitive or flow action as saved."""
    kind = action.get("type", "?")
    if kind in FLOW_ACTIONS:
        return describe_flow(FLOW_ACTIONS[kind].model_validate(action)), False, False
    spec = PRIMITIVES.get(kind)
    if spec is None:
        return f"Unknown action '{kind}': it would fail.", False, False
    return spec.describe(spec.params.model_validate(action), ctx), spec.destructive, spec.undo is not None


def describe_flow(params: Any) -> str:
    if isinstance(params, WaitParams):
        why = f" ({params.reason})" if params.reason else ""
        return f"Would wait {format_duration(params.duration)}{why}."
    if isinstance(params, WaitUntilParams):
        then = "go on" if params.on_timeout == "continue" else "stop the run"
        return (f"Would check `{params.condition}` every {format_duration(params.every)} until it holds, "
                f"for at most {format_duration(params.timeout)}; then {then}.")
    if isinstance(params, ConditionParams):
        otherwise = "stop the run" if params.when_false == "stop" else f"skip the next {params.skip} step(s)"
        return f"Would go on if `{params.if_}` holds, else {otherwise}."
    if isinstance(params, ApprovalParams):
        return gate_text(params)
    raise TypeError(f"not a flow action: {type(params).__name__}")


def gate_text(params: ApprovalParams) -> str:
    quorum = (f"{params.required_approvals} of {len(params.approvers)}" if len(params.approvers) > 1 else "")
    who = ", ".join(params.approvers)
    on_reject = "stop the run" if params.on_reject == "stop" else f"skip the {params.covers} covered step(s)"
    timeout = "approve" if params.on_timeout == "approve" else "reject"
    return (f"Would ask {who} to approve the next {params.covers} step(s)"
            f"{f' ({quorum} needed)' if quorum else ''}; wait at most {format_duration(params.timeout)} "
            f"(then {timeout}); a rejection would {on_reject}.")
