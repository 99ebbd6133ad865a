"""Gates, records and tokens for the approval tests."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.approvals.gates import CoveredStep, GateOpening, new_record
from shared.approvals.records import ApprovalRecord
from shared.approvals.tokens import SIGNING_KEY_SECRET, issue
from shared.models.alert import AlertEntities, Severity, UserEntity
from shared.primitives.context import AlertContext, RunContext
from shared.schemas.flow import ApprovalParams
from shared.secrets import setting_name

KEY_SETTING = setting_name(SIGNING_KEY_SECRET)
CONTOSO = "11111111-1111-4111-8111-111111111111"
ADELE_UPN = "adele.vance@contoso-demo.onmicrosoft.com"
APPROVERS = ["soc.lead@yourmsp.example", "duty.manager@yourmsp.example"]
HOSTILE_TITLE = '<script>alert("owned")</script><img src=x onerror=alert(1)> & "quotes"'


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def run_context(run_id: str | None = None) -> RunContext:
    return RunContext(run_id=run_id or f"ru-{uuid.uuid4().hex}-{uuid.uuid4().hex}", playbook_id="b" * 32,
                      playbook_name="BEC first response", playbook_version=3)


def alert_context(title: str = "Suspicious inbox forwarding rule", users: list[str] | None = None) -> AlertContext:
    upns = [ADELE_UPN] if users is None else users
    return AlertContext(id="al-" + uuid.uuid4().hex, source="graphSecurityAlert", tenant_id=CONTOSO,
                        category="security", severity=Severity.HIGH, title=title,
                        created_at=datetime(2026, 11, 23, 1, 0, tzinfo=UTC).isoformat(),
                        entities=AlertEntities(users=[UserEntity(upn=u) for u in upns]))


def covered() -> list[CoveredStep]:
    return [
        CoveredStep(index=1, action_type="disable_user_and_revoke", destructive=True,
                    would_do=f"Would disable {ADELE_UPN}, revoke their sessions and reset their password."),
        CoveredStep(index=2, action_type="notify_email", destructive=False,
                    would_do='Would email servicedesk@yourmsp.example: "[Riposte] HIGH: ..."'),
    ]


def opening(*, approvers: list[str] | None = None, required: int = 1, deadline: datetime | None = None,
            run_id: str | None = None, index: int = 0, title: str = "Suspicious inbox forwarding rule",
            teams: str | None = None, message: str | None = "Adele is travelling; check with her manager first.",
            **gate: Any) -> GateOpening:
    params = ApprovalParams(type="approval", approvers=approvers or APPROVERS, required_approvals=required,
                            covers=2, message=message, teams_webhook_secret=teams, **gate)
    return GateOpening(run=run_context(run_id), alert=alert_context(title), index=index, gate=params,
                       covered=covered(), deadline=deadline or datetime.now(UTC) + timedelta(hours=4))


def record(**kwargs: Any) -> ApprovalRecord:
    return new_record(opening(**kwargs), datetime.now(UTC))


def token_for(key_b64: str, rec: ApprovalRecord, approver: str, expires_at: datetime | None = None) -> str:
    return issue(base64.b64decode(key_b64), rec.id, approver, expires_at or rec.deadline)

