"""The durable self-test: proves activities, timers and external events work on this deployment.

An operator (or a test) starts it, optionally sends the acknowledgement event, and reads the
outcome. It is the approval-gate race in miniature: an external event against a durable timer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.api_model import CamelModel

ACK_EVENT = "selftest_ack"
MAX_ACK_TIMEOUT_SECONDS = 300


class SelfTestRequest(CamelModel):
    ack_timeout_seconds: float = Field(default=60, gt=0, le=MAX_ACK_TIMEOUT_SECONDS)


class ProbeResult(CamelModel):
    instance_id: str
    ran_at: str


class SelfTestOutcome(CamelModel):
    probe: ProbeResult
    outcome: Literal["acknowledged", "timed_out"]
    ack: object | None = None
