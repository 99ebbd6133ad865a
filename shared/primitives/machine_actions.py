"""Microsoft Defender for Endpoint machine actions on the machines the alert's devices resolve to.

isolate_machine (Full or Selective) and release_machine, restrict_app_execution and unrestrict_app_execution,
run_antivirus_scan (Quick or Full), collect_investigation_package and stop_and_quarantine_file (by SHA-1: the
step's own, else the SHA-1 of each file the alert names), through
Defender's API (shared/defender) with the tenant's credential: application permissions of the WindowsDefenderATP
API, not Graph (docs/deploy.md).

Which machines: each device the alert names, by its most precise identifier Defender knows (shared/defender/
machines.py): its Defender id (`mdeDeviceId` in Defender's alerts), its Entra device id, then its DNS name, which
must match one machine. `maxMachines` bounds the machines one step may act on: above it, the step acts on none.

Defender carries an action out when the device next checks in: the step records the action it requested
(`machineAction`: id, type, status `Pending`) and follows it to its end for at most `waitForCompletion` (PT5M for
isolation and app restriction, PT0S, not followed, for the others; at most PT1H): the step waits (status `waiting`,
no activity held) and the run re-checks each action on durable timers (shared/primitives/follow_up.py), the first
check after RIPOSTE_DEFENDER_CHECK_SECONDS (15 s), then doubling up to a minute, and after that first check never
more often than one step's share of the tenant's rate limits allows (`CHECKS_PER_MINUTE`, `CHECKS_PER_HOUR`). The step
then succeeds once every action `Succeeded`; an action that ended `Failed`, `TimeOut` or `Cancelled` fails it
(`defender_action_failed`, with Defender's `errorHResult`), and one still under way when the bound passes fails it
with `machine_action_pending` (Defender may still carry it out: rollback cancels it). `result.completion` says
which: `succeeded`, `failed` or `pending`.

Idempotent where Defender allows it: a machine already isolated (or being isolated) is recorded `changed: false` and
not asked again, from the latest of its Isolate/Unisolate actions (the same for app restriction); an action of a
type already pending on the machine (Defender's 400 `ActiveRequestAlreadyExists`) is recorded `changed: false`,
`alreadyPending`. Rollback releases the machines this step isolated (lifts the restrictions it set), not one that
was isolated before the run; an isolation still under way is cancelled instead (`POST
/api/machineactions/{id}/cancel`), so it never takes effect.

stop_and_quarantine_file without `sha1` acts on the SHA-1 of each file the alert names (at most `maxFiles`), one
action per file and machine. Defender refuses a second StopAndQuarantineFile on a machine while one is pending there:
for this same file that is a retry (`alreadyPending`), for another file a failure (`action_pending`) that says so.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.defender import DefenderClient, DefenderError, open_defender
from shared.defender.machines import (
    ENDED_BADLY,
    UNDER_WAY,
    actions_of,
    cancel_action,
    get_action,
    latest_of_pair,
    lookup,
    request_action,
)
from shared.durations import format_duration
from shared.models.alert import DeviceEntity
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.follow_up import FOLLOW_UP, follow_up
from shared.primitives.registry import Primitive, register
from shared.schemas.machine_actions import (
    CollectInvestigationPackageParams,
    IsolateMachineParams,
    MachineTargetParams,
    ReleaseMachineParams,
    RestrictAppExecutionParams,
    RunAntivirusScanParams,
    StopAndQuarantineFileParams,
    UnrestrictAppExecutionParams,
)

READ = "Machine.Read.All"  # machine lookups and the machine's actions (its isolation state)
MAX_COMMENT = 1000
# Following actions: one step reads each action it waits for once per check (GET /api/machineactions/{id}, which
# Defender limits to 100 calls a minute and 1,500 an hour per tenant). It keeps to a fifth of each: this many reads
# a minute over its first checks, and this many an hour from HOURLY_FROM checks on (a long wait), so a step with
# many machines checks less often.
CHECKS_PER_MINUTE = 20
CHECKS_PER_HOUR = 300
HOURLY_FROM = 3  # checks
MAX_SPACING = 60  # seconds: the doubling spacing's cap


@dataclass(frozen=True)
class Kind:
    """One machine action: Defender's path and type, what to call it, and the state it puts the machine in."""

    path: str  # POST /api/machines/{id}/{path}
    action_type: str  # the MachineAction's type
    verb: str  # "isolate the machine": for messages and descriptions
    permission: str
    body: Callable[[Any], dict[str, Any]] = lambda params: {}
    state: str | None = None  # "isolated" / "restricted": the machine state the pair of actions sets
    sets: bool = True  # the action sets that state (isolate) or clears it (release)


ISOLATE = Kind("isolate", "Isolate", "isolate the machine", "Machine.Isolate",
               lambda p: {"IsolationType": p.isolation_type}, state="isolated")
RELEASE = Kind("unisolate", "Unisolate", "release the machine from isolation", "Machine.Isolate",
               state="isolated", sets=False)
RESTRICT = Kind("restrictCodeExecution", "RestrictCodeExecution", "restrict app execution on the machine",
                "Machine.RestrictExecution", state="restricted")
UNRESTRICT = Kind("unrestrictCodeExecution", "UnrestrictCodeExecution", "remove the app execution restriction",
                  "Machine.RestrictExecution", state="restricted", sets=False)
SCAN = Kind("runAntiVirusScan", "RunAntiVirusScan", "run an antivirus scan on the machine", "Machine.Scan",
            lambda p: {"ScanType": p.scan_type})
COLLECT = Kind("collectInvestigationPackage", "CollectInvestigationPackage", "collect an investigation package",
               "Machine.CollectForensics")
QUARANTINE = Kind("StopAndQuarantineFile", "StopAndQuarantineFile", "stop and quarantine the file",
                  "Machine.StopAndQuarantine")  # the body's Sha1 is per file (quarantine_files)


# --- finding the machines --------------------------------------------------------------------------
@dataclass
class Targets:
    defender: DefenderClient
    machines: list[dict[str, Any]]  # machine labels (id, name, Entra id, matchedBy), deduplicated
    problems: list[dict[str, Any]]  # alert devices that did not resolve, each with an error


def alert_devices(entities: list[DeviceEntity]) -> list[DeviceEntity]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for entity in entities:
        key = ((entity.id or "").lower(), (entity.azure_ad_device_id or "").lower(), (entity.name or "").lower())
        if any(key) and key not in seen:
            seen.add(key)
            out.append(entity)
    return out


def _device_label(entity: DeviceEntity) -> dict[str, Any]:
    return {k: v for k, v in {"mdeDeviceId": entity.id, "name": entity.name,
                              "azureAdDeviceId": entity.azure_ad_device_id}.items() if v}


def _machine_label(machine: dict[str, Any], how: str) -> dict[str, Any]:
    return {"id": str(machine["id"]).lower(), "computerDnsName": machine.get("computerDnsName"),
            "aadDeviceId": machine.get("aadDeviceId"), "osPlatform": machine.get("osPlatform"), "matchedBy": how}


def _problem(label: dict[str, Any], code: str, message: str) -> dict[str, Any]:
    return label | {"error": {"code": code, "message": message}}


def _too_many(count: int, bound: int, verb: str) -> StepOutcome:
    return StepOutcome.failed("too_many_targets", f"This step {verb} {count} machines; it acts on at most {bound} "
                              "(maxMachines), so it acted on none.")


def open_tenant_defender(ctx: StepContext) -> DefenderClient | StepOutcome:
    if ctx.alert.tenant_id is None:
        return StepOutcome.skipped("The alert is not attributed to a tenant, so no tenant's machines can be changed.")
    try:
        return open_defender(ctx.deps.settings.defender_base_url, ctx.deps.graph, ctx.alert.tenant_id)
    except DefenderError as exc:
        return StepOutcome.failed(exc.code, exc.message)


async def _targets(params: MachineTargetParams, ctx: StepContext) -> Targets | StepOutcome:
    entities = alert_devices(ctx.alert.entities.devices)
    if not entities:
        return StepOutcome.skipped("The alert names no device.")
    if len(entities) > params.max_machines:  # before any lookup: the bound is on what the alert asks for
        return _too_many(len(entities), params.max_machines, "names")
    defender = open_tenant_defender(ctx)
    if isinstance(defender, StepOutcome):
        return defender
    targets = Targets(defender, [], [])
    for entity in entities:
        label = _device_label(entity)
        try:
            found = await lookup(defender, mde_id=entity.id, aad_device_id=entity.azure_ad_device_id,
                                 dns_name=entity.name)
        except DefenderError as exc:
            targets.problems.append(label | {"error": exc.step_error().model_dump()})
            continue
        if not found.machines:
            targets.problems.append(_problem(label, "device_not_found", "Microsoft Defender for Endpoint knows no "
                                             f"machine by {found.how or 'any identifier the alert gives'}."))
        elif len(found.machines) > 1:
            targets.problems.append(_problem(label, "ambiguous_device", f"{len(found.machines)} machines have the "
                                             f"{found.how}; none was acted on (the alert gives no machine id or "
                                             "Entra device id to tell them apart)."))
        elif all(m["id"] != found.machines[0]["id"].lower() for m in targets.machines):
            targets.machines.append(_machine_label(found.machines[0], found.how))
    if len(targets.machines) > params.max_machines:
        return _too_many(len(targets.machines), params.max_machines, "found")
    return targets


# --- acting ----------------------------------------------------------------------------------------
def comment(params: MachineTargetParams, ctx: StepContext) -> str:
    """Defender requires a comment on each action: the playbook's own, then who asks and why."""
    note = (f"Riposte playbook '{ctx.run.playbook_name}', run {ctx.run.run_id}, alert {ctx.alert.id}: "
            f"{ctx.alert.title}")
    return (f"{params.comment} ({note})" if params.comment else note)[:MAX_COMMENT]


def _action_view(action: dict[str, Any]) -> dict[str, Any]:
    view = {k: action.get(k) for k in ("id", "type", "scope", "status", "creationDateTimeUtc")}
    if action.get("status") not in (*UNDER_WAY, None) and action.get("lastUpdateDateTimeUtc"):
        view["lastUpdateDateTimeUtc"] = action["lastUpdateDateTimeUtc"]
    if action.get("errorHResult"):  # Defender's error code for an action that failed (0: none)
        view["errorHResult"] = action["errorHResult"]
    return view


def _state_of(kind: Kind, latest: dict[str, Any] | None) -> dict[str, Any]:
    on = latest is not None and latest.get("type") == (kind.action_type if kind.sets else _pair(kind).action_type)
    state: dict[str, Any] = {str(kind.state): on}
    if on and kind.state == "isolated" and latest is not None:
        state["isolationType"] = latest.get("scope")
    if latest is not None:
        state["lastAction"] = _action_view(latest)
    return state


def _pair(kind: Kind) -> Kind:
    return {ISOLATE: RELEASE, RELEASE: ISOLATE, RESTRICT: UNRESTRICT, UNRESTRICT: RESTRICT}[kind]


async def act_on(kind: Kind, defender: DefenderClient, machine: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """One machine's record: the action requested (changed) or why none was (already so, already pending), or the
    error. For a state action (isolate, restrict ...), the state before from the machine's latest such action."""
    entry = dict(machine)
    try:
        if kind.state is not None:
            latest = await latest_of_pair(defender, machine["id"], kind.action_type)
            before = _state_of(kind, latest)
            entry["before"] = before
            if before[kind.state] is kind.sets:  # already so, or becoming so: not asked twice
                entry |= {"after": before, "changed": False}
                if (before.get("lastAction") or {}).get("status") in UNDER_WAY:  # becoming so: followed too
                    entry["machineAction"] = before["lastAction"]
                return entry
        created = await request_action(defender, machine["id"], kind.path, body, kind.verb)
    except DefenderError as exc:
        if exc.action_pending:
            return entry | {"changed": False, "alreadyPending": True}
        return entry | {"changed": False, "error": exc.step_error().model_dump()}
    after: dict[str, Any] = {kind.state: kind.sets} if kind.state else {}
    if kind is ISOLATE:
        after["isolationType"] = body.get("IsolationType")
    return entry | {"after": after, "machineAction": _action_view(created), "changed": True}


def _summarize(kind: Kind, entries: list[dict[str, Any]], problems: list[dict[str, Any]],
               extra: dict[str, Any] | None = None) -> StepOutcome:
    result: dict[str, Any] = {"action": kind.action_type, "machines": entries,
                              "changed": any(e.get("changed") for e in entries), **(extra or {})}
    if problems:
        result["unresolved"] = problems
    failures = [e for e in (*problems, *entries) if e.get("error")]
    if not failures:
        return StepOutcome(StepStatus.SUCCEEDED, result=result)
    first = failures[0]["error"]
    total = len(entries) + len(problems)
    message = first["message"] if total == 1 else (
        f"{len(failures)} of {total} machines failed; first: {first['message']}")
    return StepOutcome.failed(first["code"], message, result)


def _handler(kind: Kind):
    async def handler(params: MachineTargetParams, ctx: StepContext) -> StepOutcome:
        targets = await _targets(params, ctx)
        if isinstance(targets, StepOutcome):
            return targets
        body = {"Comment": comment(params, ctx), **kind.body(params)}
        entries = [await act_on(kind, targets.defender, machine, body) for machine in targets.machines]
        return _outcome(kind, params, ctx, entries, targets.problems, checks=0, final=False)

    return handler


# --- following the actions to their end (shared/primitives/follow_up.py) ------------------------------
def _under_way(entry: dict[str, Any]) -> bool:
    return not entry.get("error") and (entry.get("machineAction") or {}).get("status") in UNDER_WAY


def _name(entry: dict[str, Any]) -> str:
    return str(entry.get("computerDnsName") or entry.get("id"))


def next_check_in(checks: int, pending: int, floor: int) -> int:
    """Seconds to the next check (`checks` done so far): doubling from `floor` up to MAX_SPACING (a device online
    carries an action out within a minute or two). The first comes at the floor, so an action done at once is seen
    at once; then never sooner than the step's share of Defender's limits allows for the `pending` actions:
    CHECKS_PER_MINUTE reads a minute, and from HOURLY_FROM checks on CHECKS_PER_HOUR an hour."""
    backoff = min(max(MAX_SPACING, floor), floor * 2 ** min(checks, 16))
    if checks == 0:
        return backoff
    per_read = 3600 / CHECKS_PER_HOUR if checks >= HOURLY_FROM else 60 / CHECKS_PER_MINUTE
    return max(backoff, math.ceil(pending * per_read))


def _ended_badly(entry: dict[str, Any]) -> None:
    """An action that ended without taking effect: the machine is as before, and the step says why."""
    action = entry["machineAction"]
    code = f" (errorHResult {action['errorHResult']})" if action.get("errorHResult") else ""
    entry.pop("after", None)
    entry.update(changed=False, error={"code": "defender_action_failed", "message": (
        f"Defender's {action.get('type')} action on {_name(entry)} ended {action.get('status')}{code}.")})


def _outcome(kind: Kind, params: MachineTargetParams, ctx: StepContext, entries: list[dict[str, Any]],
             problems: list[dict[str, Any]], *, checks: int, final: bool,
             extra: dict[str, Any] | None = None) -> StepOutcome:
    """The step as it stands: waiting for its actions (with when to check next), or settled."""
    wait: timedelta = params.wait_for_completion
    pending = [e for e in entries if _under_way(e)]
    if not wait:
        return _summarize(kind, entries, problems, extra)
    if pending and not final:
        after = next_check_in(checks, len(pending), ctx.deps.settings.defender_check_seconds)
        result = _summarize(kind, entries, problems, extra).result | {
            "completion": "pending", FOLLOW_UP: follow_up(after, wait, checks)}
        return StepOutcome(StepStatus.WAITING, result=result)
    for entry in pending:
        entry["stillPending"] = True
    outcome = _summarize(kind, entries, problems, (extra or {}) | {"checks": checks})
    if outcome.status is StepStatus.FAILED:
        outcome.result["completion"] = "pending" if pending else "failed"
        return outcome
    if pending:
        names = ", ".join(_name(e) for e in pending[:5]) + (" ..." if len(pending) > 5 else "")
        return StepOutcome.failed("machine_action_pending", (
            f"Defender's {kind.action_type} action was still {pending[0]['machineAction']['status']} on {names} after "
            f"{format_duration(wait)} (waitForCompletion): the device has not carried it out yet and may when it "
            "checks in. Rolling the run back cancels it."), outcome.result | {"completion": "pending"})
    outcome.result["completion"] = "succeeded"
    return outcome


def _follower(kind: Kind):
    async def follow(params: MachineTargetParams, step: StepResult, ctx: StepContext, final: bool) -> StepOutcome:
        """Read each action still under way once (its outcome now), then settle or say when to check next."""
        result = copy.deepcopy(step.result)
        result.pop(FOLLOW_UP, None)
        checks = int((step.result.get(FOLLOW_UP) or {}).get("checks", 0)) + 1
        entries: list[dict[str, Any]] = result.pop("machines", [])
        problems: list[dict[str, Any]] = result.pop("unresolved", [])
        extra = {k: v for k, v in result.items() if k not in ("action", "changed", "completion", "checks")}
        defender = open_tenant_defender(ctx) if any(_under_way(e) for e in entries) else None
        for entry in entries:
            if not _under_way(entry) or not isinstance(defender, DefenderClient):
                continue
            try:
                current = await get_action(defender, entry["machineAction"]["id"])
            except DefenderError as exc:  # this check could not tell: the next one asks again
                entry["lastCheckError"] = exc.step_error().model_dump()
                continue
            entry.pop("lastCheckError", None)
            entry["machineAction"] = _action_view(current)
            if current.get("status") in ENDED_BADLY and entry.get("changed"):
                _ended_badly(entry)
            elif current.get("status") in ENDED_BADLY:  # an earlier request this step waited on, not its own
                entry["error"] = {"code": "defender_action_failed", "message": (
                    f"Defender's {current.get('type')} action on {_name(entry)}, requested before this run, ended "
                    f"{current.get('status')}.")}
        return _outcome(kind, params, ctx, entries, problems, checks=checks, final=final, extra=extra)

    return follow


# --- stop and quarantine: which files ----------------------------------------------------------------
def quarantine_files(params: StopAndQuarantineFileParams, ctx: StepContext) -> list[str]:
    """The SHA-1s to quarantine: the playbook's own, else those of the files the alert names (validated at intake:
    shared/alert_payloads/entities.py)."""
    if params.sha1:
        return [params.sha1.lower()]
    return list(dict.fromkeys(f.sha1 for f in ctx.alert.entities.files if f.sha1))


def _files_problem(params: StopAndQuarantineFileParams, files: list[str]) -> StepOutcome | None:
    if not files:
        return StepOutcome.skipped("The step gives no sha1 and the alert names no file with a SHA-1.")
    if len(files) > params.max_files:
        return StepOutcome.failed("too_many_targets", f"The alert names {len(files)} files with a SHA-1; this step "
                                  f"quarantines at most {params.max_files} (maxFiles), so it acted on none.",
                                  {"files": files})
    return None


async def _quarantine_one(defender: DefenderClient, machine: dict[str, Any], body: dict[str, Any],
                          sha1: str) -> dict[str, Any]:
    """One file on one machine. Defender refuses a second StopAndQuarantineFile while one is pending on the machine
    (400): that is this file's own request (a retry: nothing to ask again) only when the pending action names it."""
    entry = await act_on(QUARANTINE, defender, machine, body | {"Sha1": sha1}) | {"sha1": sha1}
    if not entry.get("alreadyPending"):
        return entry
    try:
        pending = [a for a in await actions_of(defender, machine["id"], QUARANTINE.action_type)
                   if a.get("status") in ("Pending", "InProgress")]
    except DefenderError as exc:
        return entry | {"error": exc.step_error().model_dump()}
    if any(str(_file_of(a)).lower() == sha1 for a in pending):
        return entry
    entry.pop("alreadyPending")
    return entry | {"error": {"code": "action_pending", "message": "Defender refused to stop and quarantine the "
                              f"file {sha1} on {machine.get('computerDnsName') or machine['id']}: another "
                              "stop-and-quarantine action is pending there. Run the step again once it completes."}}


def _file_of(action: dict[str, Any]) -> Any:
    info = action.get("relatedFileInfo")
    return info.get("fileIdentifier") if isinstance(info, dict) else None


async def stop_and_quarantine_file(params: StopAndQuarantineFileParams, ctx: StepContext) -> StepOutcome:
    files = quarantine_files(params, ctx)
    if (problem := _files_problem(params, files)) is not None:
        return problem
    targets = await _targets(params, ctx)
    if isinstance(targets, StepOutcome):
        return targets
    body = {"Comment": comment(params, ctx)}
    entries = [await _quarantine_one(targets.defender, machine, body, sha1)
               for machine in targets.machines for sha1 in files]
    return _outcome(QUARANTINE, params, ctx, entries, targets.problems, checks=0, final=False,
                    extra={"files": files})


async def _cancel_if_under_way(defender: DefenderClient, action: dict[str, Any], note: str) -> dict[str, Any] | None:
    """Cancel the step's own action when it has not ended (it then never takes effect): the machine's record, or
    None when the action took effect (or cannot be told) and is to be reversed the usual way."""
    if not action.get("id") or action.get("status") not in UNDER_WAY:  # recorded Succeeded: reverse it
        return None
    try:
        answer = await cancel_action(defender, action["id"], note)
    except DefenderError:  # refused (ended meanwhile, by Defender's undocumented answer): read what it became
        try:
            answer = await get_action(defender, action["id"])
        except DefenderError:
            return None
    view = _action_view(answer)
    if answer.get("status") == "Cancelled":
        return {"changed": True, "cancelled": True, "machineAction": view}
    if answer.get("status") in ENDED_BADLY:
        return {"changed": False, "machineAction": view}  # it never took effect: nothing to undo
    return None


def _undo(kind: Kind):
    """Undo of isolate (restrict): release (unrestrict) the machines the step changed, and only those."""
    reverse = _pair(kind)

    async def undo(step: StepResult, ctx: StepContext) -> StepOutcome:
        changed = [m for m in step.result.get("machines") or [] if m.get("changed") and not m.get("error")]
        if not changed:
            return StepOutcome(StepStatus.SUCCEEDED, result={"machines": []},
                               reason=f"the step did not {kind.verb.split(' ', 1)[0]} any machine")
        defender = open_tenant_defender(ctx)
        if isinstance(defender, StepOutcome):
            return defender
        note = f"Riposte rollback of run {ctx.run.run_id} (playbook '{ctx.run.playbook_name}')"
        entries = []
        for machine in changed:
            label = {k: machine.get(k) for k in ("id", "computerDnsName", "aadDeviceId", "osPlatform", "matchedBy")}
            cancelled = await _cancel_if_under_way(defender, machine.get("machineAction") or {}, note)
            entries.append(label | cancelled if cancelled is not None
                           else await act_on(reverse, defender, label, {"Comment": note}))
        return _summarize(reverse, entries, [])

    return undo


async def _no_targets(params: MachineTargetParams, ctx: StepContext) -> str | None:
    """Why the step would act on no machine (reads only), or None when it has some or that cannot be told."""
    if isinstance(params, StopAndQuarantineFileParams) and not quarantine_files(params, ctx):
        return "The step gives no sha1 and the alert names no file with a SHA-1."
    targets = await _targets(params, ctx)
    if isinstance(targets, StepOutcome):
        return targets.reason if targets.status is StepStatus.SKIPPED else None
    if targets.machines:
        return None
    if all(p["error"]["code"] == "device_not_found" for p in targets.problems):
        return " ".join(p["error"]["message"] for p in targets.problems)
    return None  # a lookup failed: the machines are unknown


def _wait_note(params: MachineTargetParams) -> str:
    if not params.wait_for_completion:
        return ""
    return (f" The step waits up to {format_duration(params.wait_for_completion)} for Defender to report each action "
            "Succeeded or Failed before the run goes on.")


def _describe(what: Callable[[Any], str], undo_note: str = ""):
    def describe(params: MachineTargetParams, ctx: StepContext) -> str:
        names = [e.name or e.azure_ad_device_id or e.id or "?" for e in alert_devices(ctx.alert.entities.devices)]
        if not names:
            return f"Would skip: the alert names no device to {what(params)} on."
        if len(names) > params.max_machines:
            return (f"Would refuse: the alert names {len(names)} devices, more than maxMachines "
                    f"({params.max_machines}).")
        return (f"Would {what(params)} on the Defender for Endpoint machine(s) {', '.join(names)} in tenant "
                f"{ctx.alert.tenant_id}, each found by its Defender id, Entra device id or DNS name.{undo_note}"
                f"{_wait_note(params)}")

    return describe


def _describe_quarantine(params: StopAndQuarantineFileParams, ctx: StepContext) -> str:
    files = quarantine_files(params, ctx)
    if not files:
        return "Would skip: the step gives no sha1 and the alert names no file with a SHA-1."
    if len(files) > params.max_files:
        return (f"Would refuse: the alert names {len(files)} files with a SHA-1, more than maxFiles "
                f"({params.max_files}).")
    named = {f.sha1: f.name for f in ctx.alert.entities.files if f.sha1}
    listed = ", ".join(f"{h} ({named[h][:100]})" if named.get(h) else h for h in files)
    whose = "" if params.sha1 else " (the alert's file evidence)"
    return _describe(lambda p: f"stop and quarantine the file(s) with SHA-1 {listed}{whose}")(params, ctx)


def _primitive(name: str, params: type[Any], kind: Kind, summary: str, describe: Callable[[Any], str],
               undo_note: str = "", reversible: bool = False, example: dict[str, Any] | None = None,
               handler: Any = None, describe_step: Any = None) -> Primitive:
    return Primitive(
        name, params, summary, (), (), idempotent=True, needs_user=False,
        handler=handler or _handler(kind), describe=describe_step or _describe(describe, undo_note),
        undo=_undo(kind) if reversible else None, follow=_follower(kind),
        other_permissions=(kind.permission, READ), example=example, no_targets=_no_targets)


API = "Defender for Endpoint"

register(
    _primitive(
        "isolate_machine", IsolateMachineParams, ISOLATE,
        f"Isolate the alert's machines ({API}) from the network: Full, or Selective (Outlook and Teams keep "
        "working), and wait up to waitForCompletion (PT5M) for Defender to report each isolation Succeeded or Failed. "
        "A machine already isolated is left as it is; rollback releases the machines it isolated and cancels an "
        "isolation still pending.",
        lambda p: f"isolate ({p.isolation_type} isolation)",
        " A machine already isolated is not asked again; rollback releases the machines this step isolated.",
        reversible=True),
    _primitive(
        "release_machine", ReleaseMachineParams, RELEASE,
        f"Release the alert's machines ({API}) from isolation. A machine not isolated is left as it is.",
        lambda p: "release from isolation"),
    _primitive(
        "run_antivirus_scan", RunAntivirusScanParams, SCAN,
        f"Run a Microsoft Defender Antivirus scan (Quick or Full) on the alert's machines ({API}). A scan "
        "already pending on a machine is not asked twice.",
        lambda p: f"run a {p.scan_type} antivirus scan"),
    _primitive(
        "restrict_app_execution", RestrictAppExecutionParams, RESTRICT,
        f"Restrict app execution on the alert's machines ({API}, Windows): only Microsoft-signed code runs; waits "
        "up to waitForCompletion (PT5M) for the outcome. Rollback lifts the restrictions it set and cancels one "
        "still pending.",
        lambda p: "restrict app execution (only Microsoft-signed code runs)",
        " A machine already restricted is not asked again; rollback lifts the restrictions this step set.",
        reversible=True),
    _primitive(
        "unrestrict_app_execution", UnrestrictAppExecutionParams, UNRESTRICT,
        f"Remove the app execution restriction from the alert's machines ({API}).",
        lambda p: "remove the app execution restriction"),
    _primitive(
        "collect_investigation_package", CollectInvestigationPackageParams, COLLECT,
        f"Collect an investigation package (forensics: processes, connections, logs) from the alert's machines "
        f"({API}). Nothing to undo.",
        lambda p: "collect an investigation package"),
    _primitive(
        "stop_and_quarantine_file", StopAndQuarantineFileParams, QUARANTINE,
        f"Stop a file's processes and quarantine it, by SHA-1 (the step's own, else those of the files the alert "
        f"names), on the alert's machines ({API}, Windows). Not reversible through the API: the file is restored "
        "from the machine's quarantine by hand.",
        lambda p: "stop and quarantine the file",
        example={"type": "stop_and_quarantine_file", "sha1": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"},
        handler=stop_and_quarantine_file, describe_step=_describe_quarantine),
)
