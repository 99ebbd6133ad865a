"""The shipped example playbooks are valid, and the escalation chain is what it says it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.models.playbook import PlaybookDraft
from shared.primitives.catalog import PRIMITIVES
from shared.schemas.flow import ApprovalParams, ConditionParams, WaitUntilParams

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "playbooks").glob("*.json"))


def load(path: Path) -> PlaybookDraft:
    return PlaybookDraft.model_validate(json.loads(path.read_text()))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_a_valid_playbook(path):
    assert load(path).actions


def test_the_escalation_chain_notifies_waits_checks_then_escalates_behind_an_approval():
    playbook = load(next(p for p in EXAMPLES if p.name == "risky-sign-in-escalation.json"))
    kinds = [a.type for a in playbook.actions]
    assert kinds.index("notify_email") < kinds.index("wait_until") < kinds.index("condition")
    gate = next(a for a in playbook.actions if isinstance(a, ApprovalParams))
    gated = playbook.actions[kinds.index("approval") + 1]
    assert gate.required_approvals == 2 and len(gate.approvers) == 3
    assert gated.type == "disable_user"
    check = next(a for a in playbook.actions if isinstance(a, ConditionParams))
    wait = next(a for a in playbook.actions if isinstance(a, WaitUntilParams))
    assert f"steps[{playbook.actions.index(wait)}]" in check.if_
    assert any(PRIMITIVES[k].destructive for k in kinds if k in PRIMITIVES)
