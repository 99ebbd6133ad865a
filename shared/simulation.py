"""What a playbook would do for an alert, without doing any of it.

Nothing is called: each step's primitive describes, from the alert and its parameters, what it would do
to which objects, and whether that is destructive or could be rolled back. The trigger is evaluated
too, so an author sees whether the alert would have started the playbook at all, and why.

Subject conditions (trigger.userTypes / devicePlatforms) are decided on what the alert carries, else on what its
record says intake read from Graph (and when: shared/matching/decision.SubjectRecord), else they are unknown with
the reason (intake never read it, or the alert is not stored); a simulation reads nothing from Graph itself.
"""

from __future__ import annotations

from shared.alert_recording import alert_context
from shared.api_model import CamelModel
from shared.flow.describe import describe_action, describe_flow
from shared.matching.decision import MatchDecision, RecordedFact, SubjectRecord
from shared.matching.index import PlaybookIndex
from shared.matching.snapshot import MatchingSnapshot
from shared.matching.subject import UNKNOWN, Fact, SubjectFacts, decide_offline
from shared.models.alert import Alert
from shared.models.playbook import Playbook
from shared.primitives.context import RunContext, StepContext, StepDependencies


class SimulatedStep(CamelModel):
    index: int
    action_type: str
    would_do: str
    destructive: bool
    reversible: bool


class Simulation(CamelModel):
    playbook_id: str
    playbook_version: int
    alert_id: str
    tenant_id: str | None
    would_match: bool
    decision: MatchDecision | None  # None: the playbook is not considered for this tenant at all
    steps: list[SimulatedStep]


NO_GRAPH = "a simulation reads nothing from Graph"


def _given(recorded: RecordedFact | None, what: str, stored: bool) -> Fact:
    """A subject fact for the simulation from the alert's record: intake's, with when it was read, or why there is
    none."""
    if recorded is None:
        why = (f"intake did not read {what} of this alert (no playbook asked for it when the alert arrived)"
               if stored else f"the alert is not stored, so intake never read {what}")
        return Fact(None, f"{UNKNOWN}: {why}, and {NO_GRAPH}")
    when = recorded.at.strftime("%Y-%m-%d %H:%M:%S UTC")
    if recorded.value is None:
        return Fact(None, f"{recorded.detail} (intake, at {when}; {NO_GRAPH})")
    return Fact(recorded.value, f"{recorded.detail}, as intake recorded it at {when}")


def simulate(playbook: Playbook, alert: Alert, snapshot: MatchingSnapshot, deps: StepDependencies,
             recorded: SubjectRecord | None = None) -> Simulation:
    """`recorded`: what the stored alert's record knows of its user and device (AlertStore.get_with_subject); None for
    an alert that is not stored (a posted payload, a run on an entity)."""
    # The playbook as it is now, even if disabled: simulation is how an author checks it before enabling.
    index = PlaybookIndex.build([playbook.model_copy(update={"enabled": True})], snapshot.groups)
    known = recorded or SubjectRecord()
    given = SubjectFacts(_given(known.user_type, "the user's type", recorded is not None),
                         _given(known.device_platform, "the device's platform", recorded is not None))
    decisions = decide_offline(index.match(alert), alert, index.subject_playbooks, given)
    decision = next((d for d in decisions if d.playbook_id == playbook.id), None)
    ctx = StepContext(alert_context(alert), RunContext(run_id="simulation", playbook_id=playbook.id,
                                                       playbook_name=playbook.name,
                                                       playbook_version=playbook.version), deps)
    steps = []
    for i, action in enumerate(playbook.actions):
        would_do, destructive, reversible = describe_action(action.model_dump(mode="json", by_alias=True), ctx)
        if playbook.approval_policy and playbook.approval_policy.requires_approval(action.type):
            would_do = f"After approval ({describe_flow(playbook.approval_policy.gate_for())}) {would_do}"
        steps.append(SimulatedStep(index=i, action_type=action.type, would_do=would_do,
                                   destructive=destructive, reversible=reversible))
    return Simulation(playbook_id=playbook.id, playbook_version=playbook.version, alert_id=alert.id,
                      tenant_id=alert.tenant_id, would_match=bool(decision and decision.matched), decision=decision,
                      steps=steps)

