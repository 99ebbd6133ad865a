"""Running one step: validate the action against the catalog, act, and always return a StepResult.

A step never raises: a failure is recorded with its reason and the run goes on to the next step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.graph import GraphClientFactory, InvalidTenantIdError
from shared.models.run import StepResult
from shared.primitives import params as p
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import AlertContext, RunContext, StepOutcome
from shared.primitives.notify import send_notification
from shared.primitives.user_actions import disable_and_revoke, disable_users, revoke_sessions, user_targets
from shared.settings import AppSettings
from shared.validation import describe

log = logging.getLogger("riposte.steps")


@dataclass
class StepDependencies:
    graph: GraphClientFactory
    settings: AppSettings


async def _user_step(params: p.UserTargetParams, alert: AlertContext, deps: StepDependencies, act) -> StepOutcome:
    users = user_targets(alert, params)
    if isinstance(users, StepOutcome):
        return users
    assert alert.tenant_id is not None  # user_targets refused unattributed alerts
    return await act(deps.graph.for_tenant(alert.tenant_id), users)


async def _notify(params: p.NotifyEmailParams, alert: AlertContext, run: RunContext,
                  deps: StepDependencies) -> StepOutcome:
    s = deps.settings
    if not (s.notify_tenant_id and s.notify_sender):
        return StepOutcome.failed("not_configured", "No notification mailbox is configured "
                                  "(RIPOSTE_NOTIFY_TENANT_ID and RIPOSTE_NOTIFY_SENDER).")
    run_url = f"{s.public_base_url}/api/runs/{run.run_id}"
    return await send_notification(deps.graph.for_tenant(s.notify_tenant_id), s.notify_sender, params, alert, run,
                                   run_url)


async def _dispatch(params: object, alert: AlertContext, run: RunContext, deps: StepDependencies) -> StepOutcome:
    match params:
        case p.DisableUserParams():
            return await _user_step(params, alert, deps, disable_users)
        case p.RevokeUserSessionsParams():
            return await _user_step(params, alert, deps, revoke_sessions)
        case p.DisableUserAndRevokeParams():
            return await _user_step(params, alert, deps, disable_and_revoke)
        case p.NotifyEmailParams():
            return await _notify(params, alert, run, deps)
    raise LookupError(f"no handler for {type(params).__name__}")


async def execute_step(index: int, action: dict, alert: AlertContext, run: RunContext,
                       deps: StepDependencies) -> StepResult:
    started_at, clock = datetime.now(UTC), time.perf_counter()
    action_type = str(action.get("type", "?"))
    spec = PRIMITIVES.get(action_type)
    try:
        if spec is None:
            outcome = StepOutcome.failed("unknown_action", f"No primitive named '{action_type}'.")
        else:
            outcome = await _dispatch(spec.params.model_validate(action), alert, run, deps)
    except ValidationError as exc:  # playbooks are validated on save; this guards stored data drift
        outcome = StepOutcome.failed("invalid_parameters", "; ".join(f"{e['field']}: {e['reason']}"
                                                                      for e in describe(exc)))
    except InvalidTenantIdError as exc:
        outcome = StepOutcome.failed("invalid_tenant", str(exc))
    except Exception as exc:
        # Unexpected: keep the run going, keep the details in the log (not in the run record).
        log.exception("step %d (%s) of run %s failed unexpectedly", index, action_type, run.run_id)
        outcome = StepOutcome.failed("internal_error", f"{type(exc).__name__} while running the step.")
    return StepResult(
        index=index, action_type=action_type, status=outcome.status, started_at=started_at,
        completed_at=datetime.now(UTC), duration_ms=round((time.perf_counter() - clock) * 1000, 2),
        result=outcome.result, error=outcome.error, reason=outcome.reason,
    )
