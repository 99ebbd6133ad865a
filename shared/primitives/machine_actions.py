"""Microsoft Defender for Endpoint machine actions on the machines the alert's devices resolve to.

isolate_machine (Full or Selective) and release_machine, restrict_app_execution and unrestrict_app_execution,
run_antivirus_scan (Quick or Full), collect_investigation_package and stop_and_quarantine_file (by SHA-1), through
Defender's API (shared/defender) with the tenant's credential: application permissions of the WindowsDefenderATP
API, not Graph (docs/deploy.md).

Which machines: each device the alert names, by its most precise identifier Defender knows (shared/defender/
machines.py): its Defender id (`mdeDeviceId` in Defender's alerts), its Entra device id, then its DNS name, which
must match one machine. `maxMachines` bounds the machines one step may act on: above it, the step acts on none.

Defender carries an action out when the device next checks in: the step records the action it requested
(`machineAction`: id, type, status `Pending`) and does not wait for it. Idempotent where Defender allows it: a
machine already isolated (or being isolated) is recorded `changed: false` and not asked again, from the latest of
its Isolate/Unisolate actions (the same for app restriction); an action of a type already pending on the machine
(Defender's 400 `ActiveRequestAlreadyExists`) is recorded `changed: false`, `alreadyPending`. Rollback releases
the machines this step isolated (lifts the restrictions it set), not one that was isolated before the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.defender import DefenderClient, DefenderError, open_defender
from shared.defender.machines import latest_of_pair, lookup, request_action
from shared.models.alert import DeviceEntity
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
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
                  "Machine.StopAndQuarantine", lambda p: {"Sha1": p.sha1.lower()})


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
    return {k: action.get(k) for k in ("id", "type", "scope", "status", "creationDateTimeUtc")}


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
                return entry | {"after": before, "changed": False}
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
        extra = {"sha1": params.sha1.lower()} if kind is QUARANTINE else None
        return _summarize(kind, entries, targets.problems, extra)

    return handler


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
            entries.append(await act_on(reverse, defender, label, {"Comment": note}))
        return _summarize(reverse, entries, [])

    return undo


async def _no_targets(params: MachineTargetParams, ctx: StepContext) -> str | None:
    """Why the step would act on no machine (reads only), or None when it has some or that cannot be told."""
    targets = await _targets(params, ctx)
    if isinstance(targets, StepOutcome):
        return targets.reason if targets.status is StepStatus.SKIPPED else None
    if targets.machines:
        return None
    if all(p["error"]["code"] == "device_not_found" for p in targets.problems):
        return " ".join(p["error"]["message"] for p in targets.problems)
    return None  # a lookup failed: the machines are unknown


def _describe(what: Callable[[Any], str], undo_note: str = ""):
    def describe(params: MachineTargetParams, ctx: StepContext) -> str:
        names = [e.name or e.azure_ad_device_id or e.id or "?" for e in alert_devices(ctx.alert.entities.devices)]
        if not names:
            return f"Would skip: the alert names no device to {what(params)} on."
        if len(names) > params.max_machines:
            return (f"Would refuse: the alert names {len(names)} devices, more than maxMachines "
                    f"({params.max_machines}).")
        return (f"Would {what(params)} on the Defender for Endpoint machine(s) {', '.join(names)} in tenant "
                f"{ctx.alert.tenant_id}, each found by its Defender id, Entra device id or DNS name.{undo_note}")

    return describe


def _primitive(name: str, params: type[Any], kind: Kind, summary: str, describe: Callable[[Any], str],
               undo_note: str = "", reversible: bool = False, example: dict[str, Any] | None = None) -> Primitive:
    return Primitive(
        name, params, summary, (), (), idempotent=True, needs_user=False,
        handler=_handler(kind), describe=_describe(describe, undo_note), undo=_undo(kind) if reversible else None,
        other_permissions=(kind.permission, READ), example=example, no_targets=_no_targets)


API = "Defender for Endpoint"

register(
    _primitive(
        "isolate_machine", IsolateMachineParams, ISOLATE,
        f"Isolate the alert's machines ({API}) from the network: Full, or Selective (Outlook and Teams keep "
        "working). A machine already isolated is left as it is; rollback releases the machines it isolated.",
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
        f"Restrict app execution on the alert's machines ({API}, Windows): only Microsoft-signed code runs. "
        "Rollback lifts the restrictions it set.",
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
        f"Stop a file's processes and quarantine it, by SHA-1, on the alert's machines ({API}, Windows). Not "
        "reversible through the API: the file is restored from the machine's quarantine by hand.",
        lambda p: f"stop and quarantine the file with SHA-1 {p.sha1.lower()}",
        example={"type": "stop_and_quarantine_file", "sha1": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"}),
)
