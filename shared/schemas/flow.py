"""The flow actions a playbook can hold beside its primitives: `wait`, `wait_until`, `condition`, `approval`.

They are validated with the primitives' parameters (one `actions` union, unknown fields refused) and
run by the orchestrator itself (timers, external events), with their I/O in activities. Skipping is
always forward (`skip` following steps), so a playbook cannot loop.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.api_model import CamelModel
from shared.durations import MAX_LONG_WAIT, duration
from shared.expressions import Expression
from shared.schemas.common import EmailAddress
from shared.schemas.primitives import PRIMITIVE_PARAMS, is_destructive
from shared.schemas.webhook import SecretName

MAX_APPROVERS = 10
MAX_CHECKS = 500  # wait_until: timeout / every; each check is an activity in the run's durable history
DEFAULT_APPROVAL_TIMEOUT = timedelta(hours=4)
ADMIN_SENSITIVE = frozenset({"disable_user", "disable_user_and_revoke", "force_password_reset",
                             "reset_mfa_registration", "remove_licenses"})
ADMIN_CHECK = "user.isAdmin"
MAX_REASON = 300


class WaitParams(CamelModel):
    type: Literal["wait"]
    duration: duration(maximum=MAX_LONG_WAIT)  # up to 30 days: a chain of durable timers
    reason: str | None = Field(default=None, max_length=MAX_REASON)  # shown on the run while it waits


class WaitUntilParams(CamelModel):
    """Re-check `condition` (read-only) every `every` until it holds or `timeout` passes."""

    type: Literal["wait_until"]
    condition: Expression
    every: duration(maximum=timedelta(days=1)) = timedelta(minutes=15)
    timeout: duration(maximum=MAX_LONG_WAIT)
    on_timeout: Literal["continue", "stop"] = "continue"  # continue: later steps see result.met == false
    reason: str | None = Field(default=None, max_length=MAX_REASON)

    @model_validator(mode="after")
    def _checks_bounded(self) -> WaitUntilParams:
        if self.every > self.timeout:
            raise ValueError("every must not be longer than timeout")
        if self.timeout / self.every > MAX_CHECKS:
            raise ValueError(f"timeout / every allows at most {MAX_CHECKS} checks; check less often")
        return self


class ConditionParams(CamelModel):
    """If `if` is false: skip the next `skip` steps, or stop the run. If true: go on."""

    type: Literal["condition"]
    if_: Expression = Field(alias="if")
    when_false: Literal["skip", "stop"] = "skip"
    skip: int = Field(default=1, ge=1, le=50)


def _distinct_approvers(approvers: list[str]) -> list[str]:
    lowered = [a.lower() for a in approvers]  # an approver is matched case-insensitively everywhere
    if len(set(lowered)) != len(lowered):
        raise ValueError("each approver is named once")
    return lowered


def _check_quorum(required: int, approvers: list[str]) -> None:
    if required > len(approvers):
        raise ValueError(f"requiredApprovals ({required}) is more than the {len(approvers)} approver(s) named")


class ApprovalParams(CamelModel):
    """Pause until `required_approvals` of `approvers` approve the next `covers` steps."""

    type: Literal["approval"]
    approvers: list[EmailAddress] = Field(min_length=1, max_length=MAX_APPROVERS)
    required_approvals: int = Field(default=1, ge=1, le=MAX_APPROVERS)
    timeout: duration() = DEFAULT_APPROVAL_TIMEOUT
    on_timeout: Literal["reject", "approve"] = "reject"
    on_reject: Literal["stop", "skip"] = "stop"  # skip: skip the covered steps and go on with the rest
    covers: int = Field(default=1, ge=1, le=50)
    message: str | None = Field(default=None, max_length=1000)  # to the approvers, in the request
    teams_webhook_secret: SecretName | None = None  # also post the request to a Teams channel

    @field_validator("approvers")
    @classmethod
    def _distinct(cls, approvers: list[str]) -> list[str]:
        return _distinct_approvers(approvers)

    @model_validator(mode="after")
    def _quorum_possible(self) -> ApprovalParams:
        _check_quorum(self.required_approvals, self.approvers)
        return self


class ApprovalPolicy(CamelModel):
    """A playbook's standing rule: its destructive steps each wait for this approval first."""

    approvers: list[EmailAddress] = Field(min_length=1, max_length=MAX_APPROVERS)
    required_approvals: int = Field(default=1, ge=1, le=MAX_APPROVERS)
    timeout: duration() = DEFAULT_APPROVAL_TIMEOUT
    on_timeout: Literal["reject", "approve"] = "reject"
    # Which primitives need it; None: every destructive one (their schemas' `destructive`).
    primitives: list[str] | None = Field(default=None, min_length=1)
    # Disabling an account that holds a directory role also waits for approval (checked when the step
    # comes: `user.isAdmin`, the alert's first user).
    admin_accounts: bool = True
    teams_webhook_secret: SecretName | None = None

    @field_validator("approvers")
    @classmethod
    def _distinct(cls, approvers: list[str]) -> list[str]:
        return _distinct_approvers(approvers)

    @field_validator("primitives")
    @classmethod
    def _known(cls, names: list[str] | None) -> list[str] | None:
        unknown = [n for n in names or () if n not in PRIMITIVE_PARAMS]
        if unknown:
            raise ValueError(f"no primitive named {', '.join(map(repr, unknown))}")
        return names

    def guards_admin(self, action_type: str) -> bool:
        """Whether this step needs approval when the alert's user is an admin (and not already by type)."""
        return self.admin_accounts and action_type in ADMIN_SENSITIVE and not self.requires_approval(action_type)

    def requires_approval(self, action_type: str) -> bool:
        if self.primitives is not None:
            return action_type in self.primitives
        return is_destructive(action_type)

    @model_validator(mode="after")
    def _quorum_possible(self) -> ApprovalPolicy:
        _check_quorum(self.required_approvals, self.approvers)
        return self

    def gate_for(self) -> ApprovalParams:
        """The gate put before one destructive step (a rejection skips that step only)."""
        return ApprovalParams(type="approval", approvers=self.approvers, required_approvals=self.required_approvals,
                              timeout=self.timeout, on_timeout=self.on_timeout, on_reject="skip", covers=1,
                              teams_webhook_secret=self.teams_webhook_secret)


FLOW_ACTIONS = {"wait": WaitParams, "wait_until": WaitUntilParams, "condition": ConditionParams,
                "approval": ApprovalParams}
