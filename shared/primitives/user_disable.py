"""disable_user's handler: block sign-in in one Graph round trip per user.

Each user's only request is one ``$batch``: ``GET /users/{id}?$select=...accountEnabled`` -> ``PATCH /users/{id}``
accountEnabled false, chained with dependsOn (first_batch.py, the containment preset's first request without the
revoke). Reading first and then writing took two round trips before the account was disabled.

- Idempotent: Graph runs the PATCH whatever the read returned (a batch has no condition), so an account that was
  already disabled is written the same value again, a no-op; the read's accountEnabled (False) records it as
  ``changed: false`` and rollback leaves it disabled.
- Rollback is exact: the read runs before the PATCH (dependsOn), so its accountEnabled is the state rollback
  restores (user_common.restore_account_enabled).
- Failures, as the separate requests answered them: the read's 404 is the user's error (nothing written); a
  refused read (403) still disables, with the before-state unknown (``beforeUnknown``: rollback re-enables); a
  throttled request (429, 503, 504) is resent after Retry-After (graph.batch.send_batch), and one still throttled
  after that is the user's error; a PATCH refused (403: a privileged target) is the user's error with the
  before-state kept. first_batch.py has the rest (another 5xx: the chain goes once more).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from shared.graph.batch import BatchStepResult
from shared.models.alert import UserEntity
from shared.primitives.context import StepOutcome
from shared.primitives.first_batch import FirstBatch, take_out
from shared.primitives.graph_errors import step_error
from shared.primitives.user_actions import disable_write
from shared.primitives.user_common import label, summarize

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

CONCURRENT_USERS = 4  # users disabled at the same time, each with its own $batch


def batch_error(result: BatchStepResult) -> dict[str, Any]:
    """A batch response's failure as the same step error the request sent alone gets (status, Graph's code and
    message: graph_errors.from_odata)."""
    error = result.body.get("error") if isinstance(result.body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return step_error(result.status, result.error_code, message if isinstance(message, str) else None).model_dump()


def disabled_entry(user: UserEntity, first: FirstBatch) -> dict[str, Any]:
    """What disable_user records for one user from its batch (the shape rollback reads)."""
    entry = label(user)
    read, disable = first.results["read"], first.results["disable"]
    if not read.ok and first.before_unknown is None:  # not found, or still throttled: nothing was written
        return entry | {"error": batch_error(read)}
    if first.before_unknown is not None:
        entry["beforeUnknown"] = first.before_unknown
    if first.before is False:  # already disabled: the PATCH wrote the same value
        return entry | {"accountEnabled": {"before": False, "after": False}, "changed": False}
    if disable.ok:
        return entry | {"accountEnabled": {"before": first.before, "after": False}, "changed": True}
    return entry | {"accountEnabled": {"before": first.before}, "changed": False, "error": batch_error(disable)}


async def disable_accounts(graph: GraphServiceClient, users: list[UserEntity]) -> StepOutcome:
    """disable_user: each user's read -> disable $batch (module docstring); graphRoundTrips counts the posts."""
    gate = asyncio.Semaphore(CONCURRENT_USERS)

    async def one(user: UserEntity) -> FirstBatch:
        async with gate:
            return await take_out(graph, user, [disable_write(user)])

    firsts = await asyncio.gather(*(one(user) for user in users))
    return summarize([disabled_entry(user, first) for user, first in zip(users, firsts, strict=True)],
                     {"graphRoundTrips": sum(first.posts for first in firsts)})

