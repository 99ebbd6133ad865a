"""Defender for Endpoint indicators: block (or allow) an IP address, URL, domain or file hash across a tenant's
devices (Defender's indicators API, application permission Ti.ReadWrite.All of WindowsDefenderATP).

    GET    {DEFENDER_BASE_URL}/api/indicators?$filter=indicatorValue eq '<v>' and indicatorType eq '<t>'
    POST   {DEFENDER_BASE_URL}/api/indicators   {indicatorValue, indicatorType, action, title, description,
                                                  severity, expirationTime, generateAlert}   -> 200 + indicator
    DELETE {DEFENDER_BASE_URL}/api/indicators/{id}                                             -> 204 | 404

Defender's POST *submits or updates*: an indicator of the same type and value is overwritten, whoever made it. So
the step reads first: the same action already there is left alone (idempotent, nothing to undo); another action
(a person's allow, a block that only alerts) is a conflict the step reports and does not overwrite. What the step
creates carries a marker in its description (`[riposte:<run>:<step>]`, beside the alert id and title as the
reason), so a retried step recognises its own indicator, and undo deletes an indicator only while it is still the
one this step made (not one a person or a later run has since re-submitted).
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime
from typing import Any

from shared.defender import DefenderClient, DefenderError, open_defender
from shared.durations import format_duration
from shared.models.alert import Severity
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.registry import Primitive, register
from shared.schemas.indicators import AddDefenderIndicatorParams, normalized_value

PATH = "api/indicators"
MAX_TITLE = 200
MAX_DESCRIPTION = 1000
_SEVERITY = {Severity.INFORMATIONAL: "Informational", Severity.LOW: "Low", Severity.MEDIUM: "Medium",
             Severity.HIGH: "High", Severity.CRITICAL: "High"}  # Defender's scale stops at High
_VERB = {"Block": "Blocked", "AlertAndBlock": "Blocked (with alerts)", "Allowed": "Allowed"}


def _planned(params: AddDefenderIndicatorParams, ips: list[str]) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    """((type, value) to submit, deduplicated, the playbook's first; the alert's values left out and why)."""
    wanted = [(spec.indicator_type, spec.value) for spec in params.indicators]
    ignored: list[dict[str, str]] = []
    spared = [ipaddress.ip_network(r) for r in params.never_block]
    if params.from_alert:
        for raw in ips:
            try:
                value = normalized_value("IpAddress", str(raw))
            except ValueError as exc:
                ignored.append({"value": str(raw)[:64], "reason": str(exc)})
                continue
            if any(ipaddress.ip_address(value) in network for network in spared):
                ignored.append({"value": value, "reason": "inside a neverBlock range"})
                continue
            wanted.append(("IpAddress", value))
    return list(dict.fromkeys(wanted)), ignored


def _marker(ctx: StepContext) -> str:
    return f"[riposte:{ctx.run.run_id}:{ctx.step_index}]"


def _request(params: AddDefenderIndicatorParams, ctx: StepContext, kind: str, value: str,
             expires: str | None) -> dict[str, Any]:
    alert, run = ctx.alert, ctx.run
    reason = (f"{_VERB[params.action]} by Riposte for alert {alert.id}: {alert.title[:300]} (playbook "
              f"'{run.playbook_name[:100]}', run {run.run_id}, step {ctx.step_index}).")
    body: dict[str, Any] = {
        "indicatorValue": value, "indicatorType": kind, "action": params.action,
        "title": f"Riposte: {alert.title}"[:MAX_TITLE],
        "description": f"{reason[:MAX_DESCRIPTION - 60]} {_marker(ctx)}",
        "severity": params.severity or _SEVERITY[alert.severity],
        "generateAlert": params.action == "AlertAndBlock",
    }
    if expires is not None:
        body["expirationTime"] = expires
    return body


def _filter(kind: str, value: str) -> dict[str, str]:
    quoted = value.replace("'", "''")
    return {"$filter": f"indicatorValue eq '{quoted}' and indicatorType eq '{kind}'"}


async def _existing(client: DefenderClient, kind: str, value: str) -> list[dict[str, Any]]:
    listed = await client.get(PATH, _filter(kind, value), what="read the tenant's indicators")
    items = listed.get("value") if isinstance(listed, dict) else None
    return [i for i in items or [] if isinstance(i, dict)]


def _client(ctx: StepContext) -> DefenderClient:
    return open_defender(ctx.deps.settings.defender_base_url, ctx.deps.graph, str(ctx.alert.tenant_id))


def _failed(error: DefenderError, result: dict[str, Any]) -> StepOutcome:
    step_error = error.step_error()
    return StepOutcome.failed(step_error.code, step_error.message, result)


async def add_defender_indicator(params: AddDefenderIndicatorParams, ctx: StepContext) -> StepOutcome:
    wanted, ignored = _planned(params, ctx.alert.entities.ips)
    extra: dict[str, Any] = {"ignored": ignored} if ignored else {}
    if not wanted:
        return StepOutcome(StepStatus.SKIPPED, result=extra,
                           reason="The alert names no public IP address outside neverBlock.")
    if ctx.alert.tenant_id is None:
        return StepOutcome.skipped("The alert is not attributed to a tenant, so no indicator can be submitted.")
    if len(wanted) > params.max_indicators:
        return StepOutcome.failed(
            "too_many_targets", f"The step would submit {len(wanted)} indicators; it submits at most "
            f"{params.max_indicators} (maxIndicators).",
            {"toSubmit": [{"indicatorType": k, "indicatorValue": v} for k, v in wanted], **extra})
    expires = None
    if params.expires_after is not None:
        expires = (datetime.now(UTC) + params.expires_after).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcomes: list[dict[str, Any]] = [{"indicatorType": kind, "indicatorValue": value} for kind, value in wanted]
    added: list[dict[str, str]] = []
    result: dict[str, Any] = {"action": params.action, "expirationTime": expires, "indicators": outcomes,
                              "added": added, **extra}
    try:
        client = _client(ctx)
        # Every read at once, then every submit at once: two round trips however many indicators.
        found_lists = _settled(await asyncio.gather(*(_existing(client, k, v) for k, v in wanted),
                                                    return_exceptions=True))
        to_submit: list[dict[str, Any]] = []
        for entry, found in zip(outcomes, found_lists, strict=True):
            ours = next((i for i in found if _marker(ctx) in str(i.get("description"))), None)
            same = next((i for i in found if i.get("action") == params.action), None)
            if ours is not None:  # a retry of this step: what the first attempt made
                entry |= {"id": str(ours.get("id")), "outcome": "added"}
            elif same is not None:
                entry |= {"id": str(same.get("id")), "outcome": "alreadyPresent"}
            elif found:
                entry |= {"id": str(found[0].get("id")), "outcome": "conflict",
                          "existingAction": found[0].get("action")}
            else:
                to_submit.append(entry)
        answers = await asyncio.gather(*(client.post(PATH, _request(params, ctx, e["indicatorType"],
                                                                    e["indicatorValue"], expires),
                                                     what="submit an indicator") for e in to_submit),
                                       return_exceptions=True)
        failure: DefenderError | None = None
        for entry, answer in zip(to_submit, answers, strict=True):
            if isinstance(answer, DefenderError):
                entry["outcome"] = "failed"
                failure = failure or answer
            elif isinstance(answer, BaseException):
                raise answer
            else:
                entry |= {"id": str((answer or {}).get("id")), "outcome": "added"}
        added += [{"id": e["id"], "indicatorType": e["indicatorType"], "indicatorValue": e["indicatorValue"]}
                  for e in outcomes if e.get("outcome") == "added"]
        if failure is not None:
            raise failure
    except DefenderError as exc:
        return _failed(exc, result | {"changed": bool(added)})
    result["changed"] = bool(added)
    conflicts = [e for e in outcomes if e["outcome"] == "conflict"]
    if conflicts:
        names = ", ".join(f"{e['indicatorValue']} ({e['existingAction']})" for e in conflicts)
        return StepOutcome.failed(
            "indicator_conflict", f"Defender already has an indicator with another action for {names}; Riposte "
            f"does not overwrite it with {params.action}. Change or delete it in Defender if it should.", result)
    return StepOutcome(StepStatus.SUCCEEDED, result=result)


def _settled(answers: list[Any]) -> list[Any]:
    """The answers of requests sent together, or the first failure raised (after all have finished)."""
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    return answers


async def _delete_own(client: DefenderClient, item: dict[str, str], found: list[dict[str, Any]],
                      marker: str) -> str | None:
    """Delete the indicator if it is still the step's own; None when deleted, else why it was left."""
    current = next((i for i in found if str(i.get("id")) == item["id"]), None)
    if current is None:
        return "already gone (deleted or expired)"
    if marker not in str(current.get("description")):
        return "re-submitted since by someone else: left in place"
    try:
        await client.delete(f"{PATH}/{item['id']}", what="delete an indicator")
    except DefenderError as exc:
        if not exc.not_found:
            raise
    return None


async def undo_add_defender_indicator(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Delete the indicators this step made, while they are still its own (its marker in the description)."""
    added = [a for a in step.result.get("added") or [] if isinstance(a, dict) and a.get("id")]
    if not added:
        return StepOutcome(StepStatus.SUCCEEDED, result={"removed": [], "note": "the step added no indicator"})
    if ctx.alert.tenant_id is None:
        return StepOutcome.failed("no_tenant", "The alert is not attributed to a tenant.")
    marker = f"[riposte:{ctx.run.run_id}:{step.index}]"
    removed: list[str] = []
    kept: list[dict[str, str]] = []
    try:
        client = _client(ctx)
        found_lists = _settled(await asyncio.gather(
            *(_existing(client, a["indicatorType"], a["indicatorValue"]) for a in added), return_exceptions=True))
        answers = await asyncio.gather(*(_delete_own(client, item, found, marker)
                                         for item, found in zip(added, found_lists, strict=True)),
                                       return_exceptions=True)
        for item, answer in zip(added, answers, strict=True):
            if isinstance(answer, str):
                kept.append({"id": item["id"], "reason": answer})
            elif answer is None:
                removed.append(item["id"])
        _settled(answers)
    except DefenderError as exc:
        return _failed(exc, {"removed": removed, "notRemoved": kept})
    return StepOutcome(StepStatus.SUCCEEDED, result={"removed": removed, "notRemoved": kept})


def describe_add_defender_indicator(params: AddDefenderIndicatorParams, ctx: StepContext) -> str:
    wanted, _ = _planned(params, ctx.alert.entities.ips)
    if not wanted:
        return "Would skip: the alert names no public IP address."
    listed = ", ".join(f"{kind} {value}" for kind, value in wanted)
    lapse = f"expiring after {format_duration(params.expires_after)}" if params.expires_after else "never expiring"
    cap = (f" It submits none: that is more than maxIndicators ({params.max_indicators})."
           if len(wanted) > params.max_indicators else "")
    return (f"Would submit Defender indicators ({params.action}, {lapse}) for {listed} in tenant "
            f"{ctx.alert.tenant_id}, with the alert as the reason; an indicator already there with the same action "
            f"is left alone, one with another action is reported, not overwritten.{cap}")


register(Primitive(
    "add_defender_indicator", AddDefenderIndicatorParams,
    "Block or allow IP addresses, URLs, domains or file hashes on the tenant's devices through Defender for "
    "Endpoint indicators, with an expiry, a severity and the alert as the reason. Rollback deletes the indicators "
    "this step made.",
    (), (), other_permissions=("Ti.ReadWrite.All",),
    idempotent=True, needs_user=False,
    handler=add_defender_indicator, describe=describe_add_defender_indicator, undo=undo_add_defender_indicator,
    example={"type": "add_defender_indicator", "action": "Block", "fromAlert": True, "expiresAfter": "P30D",
             "indicators": [{"indicatorType": "FileSha256",
                             "value": "881c0f10c75e64ec39d257a131fcd531f47dd2cff2070ae94baa347d375126fd"}]},
))
