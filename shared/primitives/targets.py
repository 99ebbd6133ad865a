"""Whether a step would act on anything: asked before an approval gate opens, so nobody is asked to approve
a step that will do nothing (a `sync_device` on an alert that names no device, a `wipe_device` of a user
with no managed device).

Read-only, and failing closed: a step whose targets cannot be told (an unknown primitive, parameters that
no longer validate, a Graph read that failed) counts as having targets, so its gate opens as before.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.user_actions import user_targets

log = logging.getLogger("riposte.steps")


async def no_targets(action: dict[str, Any], ctx: StepContext) -> str | None:
    """Why this step would act on nothing, or None when it has targets or that cannot be told."""
    spec = PRIMITIVES.get(str(action.get("type", "")))
    if spec is None:
        return None
    try:
        params = spec.params.model_validate(action)
        if spec.no_targets is not None:
            return await spec.no_targets(params, ctx)
        if spec.needs_user and hasattr(params, "max_targets"):
            users = user_targets(ctx.alert, params)
            if isinstance(users, StepOutcome) and users.status is StepStatus.SKIPPED:
                return users.reason
    except Exception as exc:  # fail closed: the gate opens
        log.warning("run %s: the targets of %s could not be told (%s)", ctx.run.run_id, spec.name,
                    type(exc).__name__)
    return None
