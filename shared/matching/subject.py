"""Subject conditions: `trigger.userTypes` and `trigger.devicePlatforms`, evaluated after the index's conditions.

The index decides tenant, category, severity and title for every playbook (pure, cached). Only the playbooks that
pass those and have a subject condition need to know whom and what the alert is about; those facts may cost a
Graph read, which is I/O and belongs to intake (shared/subject_lookup.py). So matching is two steps:

    decisions = index.match(alert)
    found = candidates(decisions, index.subject_playbooks)    # none for most alerts: nothing to read
    facts = carried(alert, needs_of(found)), then the lookup fills what the alert does not carry
    decisions = refine(decisions, found, facts)

A playbook without subject conditions is never touched: when no playbook of the index has one, `needs` is one
emptiness check. "The user" is the first user the alert names, "the device" the first device (as the flow's
facts and the primitives' targets). A fact that cannot be known (no such entity, Graph failed or does not know
it) fails the condition, and the outcome says "unknown" and why: the playbook does not match, and the alert's
decision record shows it (a security product must not act on a guess, nor drop the reason silently).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.matching.decision import (
    DEVICE_PLATFORM,
    MAX_DETAIL_CHARS,
    UNKNOWN,
    USER_TYPE,
    MatchDecision,
    RecordedFact,
    SubjectRecord,
    outcome,
)
from shared.models.alert import Alert, DeviceEntity, UserEntity
from shared.models.playbook import Playbook


@dataclass(frozen=True, slots=True)
class Needs:
    user: bool = False
    device: bool = False

    def __bool__(self) -> bool:
        return self.user or self.device


NOTHING = Needs()


@dataclass(frozen=True, slots=True)
class Fact:
    value: str | None  # a UserType / DevicePlatform value; None when unknown
    detail: str  # where it came from ("from the alert", "from Graph"), or why it is unknown

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    user: Fact | None = None  # None: not asked for
    device: Fact | None = None

    def missing(self, wanted: Needs) -> Needs:
        """What `wanted` asks for that these facts do not hold yet."""
        return Needs(user=wanted.user and self.user is None, device=wanted.device and self.device is None)




def record_of(facts: SubjectFacts, at: datetime) -> SubjectRecord:
    """The facts as the alert's record keeps them (shared/store/alerts.py)."""
    def kept(fact: Fact | None) -> RecordedFact | None:
        return None if fact is None else RecordedFact(value=fact.value, detail=fact.detail[:MAX_DETAIL_CHARS], at=at)

    return SubjectRecord(user_type=kept(facts.user), device_platform=kept(facts.device))


def first_user(alert: Alert) -> UserEntity | None:
    """The user subject conditions are about: the first one the alert names that Graph can be asked about."""
    return next((u for u in alert.entities.users if u.id or u.upn), None)


def first_device(alert: Alert) -> DeviceEntity | None:
    return next((d for d in alert.entities.devices if d.azure_ad_device_id or d.id or d.name), None)


def user_label(user: UserEntity) -> str:
    return user.upn or user.id or "?"


def device_label(device: DeviceEntity) -> str:
    return device.name or device.azure_ad_device_id or device.id or "?"


Candidates = list[tuple[int, Playbook]]  # (position in the decisions, playbook) of matched subject playbooks


def candidates(decisions: list[MatchDecision], subject_playbooks: Mapping[str, Playbook]) -> Candidates:
    """The playbooks with a subject condition that passed every other condition, with their decisions' positions
    (`subject_playbooks`: those with a subject condition, by id). One pass; none without subject playbooks."""
    if not subject_playbooks:
        return []
    get = subject_playbooks.get
    found = []
    for position, decision in enumerate(decisions):
        if decision.matched and (playbook := get(decision.playbook_id)) is not None:
            found.append((position, playbook))
    return found


def needs_of(found: Candidates) -> Needs:
    """Which facts the candidates ask for."""
    return Needs(user=any(p.trigger.user_types is not None for _, p in found),
                 device=any(p.trigger.device_platforms is not None for _, p in found))


def needs(decisions: list[MatchDecision], subject_playbooks: Mapping[str, Playbook]) -> Needs:
    return needs_of(candidates(decisions, subject_playbooks)) if subject_playbooks else NOTHING


def carried(alert: Alert, wanted: Needs) -> SubjectFacts:
    """The facts the alert itself settles: its user's or device's stated type or platform, or that it names no
    user or device at all. What is left (None) is for Graph."""
    user_fact = device_fact = None
    if wanted.user:
        user = first_user(alert)
        if user is None:
            user_fact = Fact(None, f"{UNKNOWN}: the alert names no user")
        elif user.user_type is not None:
            user_fact = Fact(user.user_type.value, f"user {user_label(user)} is {user.user_type.value} (from the "
                                                   "alert)")
    if wanted.device:
        device = first_device(alert)
        if device is None:
            device_fact = Fact(None, f"{UNKNOWN}: the alert names no device")
        elif device.platform is not None:
            device_fact = Fact(device.platform.value, f"device {device_label(device)} runs {device.platform.value} "
                                                      "(from the alert)")
    return SubjectFacts(user_fact, device_fact)


def decide_offline(decisions: list[MatchDecision], alert: Alert, subject_playbooks: Mapping[str, Playbook],
                   given: SubjectFacts = SubjectFacts(), why: str = "not read") -> list[MatchDecision]:
    """Subject conditions decided without Graph (a simulation, `make try`): on what the alert carries, else on
    `given`, else unknown (`why`)."""
    found = candidates(decisions, subject_playbooks)
    if not found:
        return decisions
    wanted = needs_of(found)
    facts = carried(alert, wanted)
    fallback = Fact(None, f"{UNKNOWN}: {why}")
    facts = SubjectFacts(facts.user or given.user or (fallback if wanted.user else None),
                         facts.device or given.device or (fallback if wanted.device else None))
    return refine(decisions, found, facts)


def _outcome(name: str, fact: Fact | None, allowed: Collection[str]):
    if fact is None or not fact.known:
        return outcome(name, False, fact.detail if fact is not None else f"{UNKNOWN}: not read")
    passed = fact.value in allowed
    listed = ", ".join(allowed)
    return outcome(name, passed, f"{fact.detail}; {'one of' if passed else 'not one of'} {listed}")


def refine(decisions: list[MatchDecision], subject_playbooks: Mapping[str, Playbook] | Candidates,
           facts: SubjectFacts) -> list[MatchDecision]:
    """The decisions with each candidate's subject conditions evaluated on `facts` (appended to its outcomes, in the
    order userType, devicePlatform, up to the first that fails). Others are the same objects; without candidates,
    the same list. `subject_playbooks`: by id, or the candidates found already."""
    found = subject_playbooks if isinstance(subject_playbooks, list) else candidates(decisions, subject_playbooks)
    if not found:
        return decisions
    refined = list(decisions)
    for position, playbook in found:
        decision, trigger = decisions[position], playbook.trigger
        outcomes = list(decision.conditions)
        for name, allowed, fact in ((USER_TYPE, trigger.user_types, facts.user),
                                    (DEVICE_PLATFORM, trigger.device_platforms, facts.device)):
            if allowed is not None:
                outcomes.append(_outcome(name, fact, [str(v) for v in allowed]))
                if not outcomes[-1].passed:
                    break
        refined[position] = decision.model_copy(update={"matched": outcomes[-1].passed, "conditions": tuple(outcomes)})
    return refined


def unknowns(refined: list[MatchDecision], found: Candidates, facts: SubjectFacts) -> tuple[list[str], list[str]]:
    """(playbook ids, reasons) of the candidates that did not match because a fact they asked for is unknown."""
    by_name = {USER_TYPE: facts.user, DEVICE_PLATFORM: facts.device}
    ids, reasons = [], set()
    for position, playbook in found:
        decision = refined[position]
        last = decision.conditions[-1]
        fact = by_name.get(last.name)
        if not decision.matched and last.name in by_name and (fact is None or not fact.known):
            ids.append(playbook.id)
            reasons.add(last.detail)
    return ids, sorted(reasons)


def subject_playbooks(playbooks: Collection[Playbook]) -> dict[str, Playbook]:
    """The alert-triggered playbooks with a subject condition, by id."""
    return {p.id: p for p in playbooks if p.trigger.subject_conditions}
