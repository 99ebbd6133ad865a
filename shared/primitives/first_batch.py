"""The first request of the containment preset and of disable_user: one Graph ``$batch`` per user that reads what
rollback needs, then blocks sign-in (and, for the preset, revokes the sessions), chained with dependsOn (read ->
disable [-> revoke]).

The disable is the point of containment, so nothing goes to Graph (or to storage) before it: the before-read
rides in the same round trip, and dependsOn makes Graph run it first, so the accountEnabled it returns is the
state rollback restores. Disable before revoke: a token refreshed between the two cannot outlive the revoke.

Graph answers 424 (Failed Dependency) for the writes (disable, revoke) when the read fails: nothing was written.
What then, by the read's status:
- 404: the user does not exist. Nothing more is sent; the step reports it not found.
- 429, 503, 504 (throttled): send_batch has already resent the whole chain after Retry-After, a bounded number
  of times. Still throttled: the user is reported not contained and nothing was written (sending past Graph's
  Retry-After would only be throttled again).
- another 5xx: a passing fault. The same chain goes once more, so the before-state stays exact.
- anything else (e.g. 403, the app may not read the user), or a 5xx twice: the writes go again without
  the read. Getting the user out comes before an exact rollback: the before-state is recorded unknown
  (``beforeUnknown``: the read's error) and rollback re-enables the account, as disable_user does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from shared.graph.batch import BatchRetryPolicy, BatchStep, BatchStepResult
from shared.models.alert import UserEntity
from shared.primitives.user_actions import disable_write, revoke_write, send_chain_caught, user_path, write_error

if TYPE_CHECKING:
    from msgraph import GraphServiceClient

READ_FIELDS = ("id", "userPrincipalName", "accountEnabled")  # accountEnabled: what rollback restores
THROTTLED = BatchRetryPolicy().retry_statuses  # send_batch resends these itself


@dataclass(frozen=True)
class FirstBatch:
    """What the first request did: each request's last result by id (read, then the writes: disable, revoke), the
    $batch posts it took, and the account's state before the disable."""

    results: dict[str, BatchStepResult]
    posts: int
    before: bool | None  # accountEnabled before the disable; None when unknown
    before_unknown: str | None = None  # the read's error code when the disable went without it

    @property
    def out(self) -> bool:
        """Every write succeeded (disabled, and for the preset sessions revoked): the user is out of the seat."""
        return all(result.ok for key, result in self.results.items() if key != "read")


def read_step(user: UserEntity) -> BatchStep:
    return BatchStep("read", "GET", f"{user_path(user)}?$select={','.join(READ_FIELDS)}")


def _merge(earlier: dict[str, BatchStepResult], later: dict[str, BatchStepResult]) -> dict[str, BatchStepResult]:
    """later's results win; attempts add up for requests that ran before (a 424 never ran)."""
    merged = dict(earlier)
    for key, result in later.items():
        previous = earlier.get(key)
        ran = previous.attempts if previous is not None and previous.status != 424 else 0
        merged[key] = replace(result, attempts=result.attempts + ran)
    return merged


def _before(read: BatchStepResult) -> bool | None:
    value = read.body.get("accountEnabled") if isinstance(read.body, dict) else None
    return value if isinstance(value, bool) else None


async def take_out(graph: GraphServiceClient, user: UserEntity, writes: Sequence[BatchStep] | None = None
                   ) -> FirstBatch:
    """Send read -> writes (by default disable -> revoke) as one $batch, and decide what to do when the read fails
    (module docstring)."""
    chain = [read_step(user), *(writes if writes is not None else (disable_write(user), revoke_write(user)))]
    results, posts = await send_chain_caught(graph, chain)
    read = results["read"]
    if not read.ok and read.status >= 500 and read.status not in THROTTLED:
        again, more = await send_chain_caught(graph, chain)
        results, posts, read = _merge(results, again), posts + more, again["read"]
    if read.ok:
        return FirstBatch(results, posts, _before(read))
    if read.status == 404 or read.status in THROTTLED:
        return FirstBatch(results, posts, None)
    without_read, more = await send_chain_caught(graph, chain[1:])
    return FirstBatch(_merge(results, without_read), posts + more, None, write_error(read).code)
