"""A playbook tried on an alert offline: validated as the API validates it, matched as the intake matches
it, run by the real interpreter answered from a facts file (executor.py). What `make try` prints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.alert_payloads import PayloadError, normalize_payload
from shared.alert_recording import alert_context, make_alert, run_request
from shared.api_model import SAVING
from shared.durations import format_duration
from shared.flow.describe import describe_action
from shared.interpreter import commands as cmd
from shared.interpreter.machine import RunInterpreter
from shared.matching.index import PlaybookIndex
from shared.matching.snapshot import MatchingSnapshot
from shared.matching.subject import Fact, SubjectFacts, decide_offline
from shared.models.alert import Alert
from shared.models.playbook import Playbook, PlaybookDraft, broad_problem
from shared.models.subject import UserType, graph_user_type, platform_of
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import RunContext, StepContext, StepDependencies
from shared.settings import AppSettings
from shared.tryout.executor import OfflineExecutor
from shared.tryout.facts import TryFacts
from shared.validation import describe

PLAYBOOK_ID = "0" * 32  # the tried playbook is not stored: a fixed id keeps the output stable
MATCHED, NOT_MATCHED, INVALID = 0, 1, 2


class Invalid(Exception):
    """A file refused, naming the field (the API's format: `actions[0].to[0]`)."""

    def __init__(self, file: str, message: str, field: str = "", details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.file, self.message, self.field, self.details = file, message, field, details


@dataclass
class Tried:
    exit_code: int
    output: dict[str, Any]


def _validated(file: str, model: type, body: Any, **kwargs: Any) -> Any:
    try:
        return model.model_validate(body, **kwargs)
    except ValidationError as exc:
        problems = describe(exc)
        raise Invalid(file, problems[0]["reason"], problems[0]["field"], problems) from None


def load_playbook(body: Any) -> Playbook:
    draft = _validated("playbook", PlaybookDraft, body, context=SAVING)
    problem = broad_problem(draft)
    if problem is not None:
        raise Invalid("playbook", problem, "trigger")
    stamp = datetime(2000, 1, 1).isoformat() + "Z"
    return Playbook.model_validate(draft.model_dump(mode="json", by_alias=True) | {
        "id": PLAYBOOK_ID, "version": 1, "createdAt": stamp, "updatedAt": stamp})


def load_facts(body: Any, playbook: Playbook) -> TryFacts:
    facts = _validated("facts", TryFacts, {} if body is None else body)
    for name in ("approvals", "steps"):
        for index in getattr(facts, name):
            if not 0 <= index < len(playbook.actions):
                raise Invalid("facts", f"no step {index}: the playbook has {len(playbook.actions)}",
                              f"{name}.{index}")
    return facts


def load_alert(body: Any, facts: TryFacts) -> Alert:
    try:
        normalized = normalize_payload(body)
    except PayloadError as exc:
        raise Invalid("alert", exc.reason, exc.field or "") from None
    if len(normalized) != 1:
        raise Invalid("alert", f"one alert at a time; the payload holds {len(normalized)}")
    created = normalized[0].created_at  # the run's clock starts at the alert: the output does not drift
    return make_alert(normalized[0], _snapshot(facts), None, created)


def _snapshot(facts: TryFacts, playbook: Playbook | None = None) -> MatchingSnapshot:
    groups = tuple(facts.tenant_groups)
    return MatchingSnapshot(revision="try", index=PlaybookIndex.build([playbook] if playbook else [], groups),
                            playbooks={}, tenants={}, tenant_by_subscription={}, tenant_by_workspace={},
                            groups=groups)


def subject_facts(facts: TryFacts) -> SubjectFacts:
    """The facts file's user type and device platform, for subject conditions (none: unknown)."""
    user, device = facts.user or {}, facts.device or {}
    user_type = UserType.ADMIN if user.get("isAdmin") is True else graph_user_type(user.get("type"))
    platform = platform_of(device.get("platform"))
    return SubjectFacts(
        Fact(user_type.value, f"the user is {user_type.value} (from the facts file)") if user_type else None,
        Fact(platform.value, f"the device runs {platform.value} (from the facts file)") if platform else None)


def _decision(playbook: Playbook, alert: Alert, facts: TryFacts) -> dict[str, Any]:
    # The playbook as it is, even if disabled (as the API's simulate): a check before it goes live.
    index = _snapshot(facts, playbook.model_copy(update={"enabled": True})).index
    decisions = decide_offline(index.match(alert), alert, index.subject_playbooks, subject_facts(facts),
                               why="give it in the facts file (user.type / user.isAdmin, device.platform)")
    decision = next((d for d in decisions if d.playbook_id == playbook.id), None)
    if decision is not None:
        return {"matched": decision.matched,
                "conditions": [c.model_dump(mode="json", by_alias=True) for c in decision.conditions]}
    if playbook.trigger.scheduled:
        detail = "a scheduled playbook runs on its population's findings, not on alerts"
        return {"matched": False, "conditions": [{"name": "schedule", "passed": False, "detail": detail}]}
    scope = playbook.trigger.tenant_scope.model_dump(mode="json", by_alias=True)
    detail = f"the alert's tenant {alert.tenant_id or '(none)'} is not in the playbook's tenantScope {scope}"
    return {"matched": False, "conditions": [{"name": "tenant", "passed": False, "detail": detail}]}


class _NoGraph:
    """Offline: a primitive that would call Graph to describe itself fails loudly here."""

    def for_tenant(self, tenant_id: str):
        raise RuntimeError("make try is offline: nothing may call Graph")


def _alert_view(alert: Alert) -> dict[str, Any]:
    entities = {k: v for k, v in alert.entities.model_dump(mode="json", by_alias=True, exclude_none=True).items()
                if v}
    return {"id": alert.id, "source": alert.source.value, "tenantId": alert.tenant_id,
            "attribution": alert.attribution.value, "category": alert.category, "severity": alert.severity.value,
            "title": alert.title, "createdAt": alert.created_at.isoformat(), "entities": entities}


def _checked(result: dict[str, Any]) -> dict[str, Any]:
    view = {"facts": result.get("facts", {})}
    unknown = [e["fact"] for e in result.get("errors", [])]
    return view | ({"unknown": unknown} if unknown else {})


def _step_view(index: int, action: dict[str, Any], record: dict[str, Any], executor: OfflineExecutor,
               ctx: StepContext, start: datetime) -> dict[str, Any]:
    kind = action.get("type", "?")
    would_do, destructive, reversible = executor.described.get(index) or describe_action(action, ctx)
    status = record["status"]
    if kind in PRIMITIVES and status == "succeeded":
        status = "wouldRun"
    view: dict[str, Any] = {"index": index, "type": kind, "status": status, "wouldDo": would_do}
    if kind in PRIMITIVES:
        view |= {"destructive": destructive, "reversible": reversible}
    result = record.get("result") or {}
    if kind == "condition" and "holds" in result:
        view |= {"if": action["if"], "holds": result["holds"]} | _checked(result)
    elif kind == "wait_until" and "met" in result:
        view |= {"condition": action["condition"], "met": result["met"], "checks": result["checks"]} | _checked(result)
    elif kind == "wait" and status == "succeeded":
        view["waited"] = result.get("waited")
    if index in executor.gates:
        view["gate"] = executor.gates[index]
    if record.get("reason"):
        view["reason"] = record["reason"]
    if record.get("error"):
        view["error"] = record["error"]
    view["at"] = format_duration(datetime.fromisoformat(record["completedAt"]) - start)
    return view


def run_offline(playbook: Playbook, alert: Alert, facts: TryFacts) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each step as the run would take it (the interpreter's rules), and how the run would end."""
    request = run_request(alert, playbook)
    ctx = StepContext(alert_context(alert), RunContext(run_id="try", playbook_id=playbook.id,
                                                       playbook_name=playbook.name, playbook_version=1),
                      StepDependencies(graph=_NoGraph(), settings=AppSettings()))
    executor = OfflineExecutor(ctx, facts)
    interpreter = RunInterpreter(request)
    start = alert.created_at
    now = start
    command = interpreter.start(now)
    closed: cmd.CloseRun | None = None
    while not isinstance(command, cmd.Finish):
        closed = command if isinstance(command, cmd.CloseRun) else closed
        event = executor.answer(command, now)
        now = event.now
        command = interpreter.send(event)
    steps = [_step_view(s["index"], request.actions[s["index"]], s, executor, ctx, start) for s in closed.steps]
    return steps, {"status": command.output["status"], "simulated": request.simulated,
                   "lasts": format_duration(now - start)}


def try_playbook(playbook_body: Any, alert_body: Any, facts_body: Any = None) -> Tried:
    try:
        playbook = load_playbook(playbook_body)
        facts = load_facts(facts_body, playbook)
        alert = load_alert(alert_body, facts)
    except Invalid as exc:
        error = {"file": exc.file, "field": exc.field, "message": exc.message}
        return Tried(INVALID, {"error": error | ({"details": exc.details} if exc.details else {})})
    decision = _decision(playbook, alert, facts)
    steps, run = run_offline(playbook, alert, facts)
    output = {
        "playbook": {"name": playbook.name, "mode": playbook.mode.value, "enabled": playbook.enabled},
        "alert": _alert_view(alert),
        "match": decision,
        "steps": steps,
        "run": run,
    }
    return Tried(MATCHED if decision["matched"] else NOT_MATCHED, output)
