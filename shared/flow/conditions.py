"""Checking a condition: the alert, earlier steps and run facts, plus user and device facts read from
Graph when the expression names them. Read-only; never raises for data problems."""

from __future__ import annotations

from typing import Any

from shared.expressions import compile_expression
from shared.flow.facts import ON_DEMAND_USER_FACTS, resolve_facts
from shared.primitives.context import AlertContext, StepDependencies


async def check(expression: str, alert: AlertContext, steps: list[Any], run_facts: dict[str, Any],
                deps: StepDependencies, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    compiled = compile_expression(expression)
    on_demand = frozenset(name for name in ON_DEMAND_USER_FACTS if ("user", name) in compiled.references())
    facts = await resolve_facts(compiled.roots() & {"user", "device"}, alert, deps, on_demand)
    errors = facts.pop("errors", None)
    env = expression_env(alert, steps, run_facts, saved) | facts
    result: dict[str, Any] = {"holds": compiled.evaluate(env), "facts": facts}
    if errors:
        result["errors"] = errors
    return result


def expression_env(alert: AlertContext, steps: list[Any], run_facts: dict[str, Any],
                   saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """What an expression reads besides user and device facts (`make try` gives those from a file); `saved`: the
    facts earlier http_request steps saved (`facts.<name>`), as the run hands them over."""
    return {"alert": alert.model_dump(mode="json", by_alias=True), "steps": steps, "run": run_facts,
            "facts": saved or {}}
