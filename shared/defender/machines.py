"""Defender for Endpoint machines and machine actions, as the primitives use them (over DefenderClient).

- A machine is found by its Defender id (40 hex digits: what alerts call `mdeDeviceId`), by its Entra device id
  (`$filter=aadDeviceId eq '...'`: a re-onboarded device can be listed twice, the one seen last is taken) or by
  its DNS name (`$filter=computerDnsName eq '...'`: it must match one machine).
- An action is `POST /api/machines/{id}/{action}` with `{"Comment": ...}` and its own parameters; Defender
  answers 201 with the MachineAction, `Pending` until the device carries it out.
- Whether a machine is isolated (or its app execution restricted) is not a property of the machine: it is the
  latest of its Isolate / Unisolate (RestrictCodeExecution / UnrestrictCodeExecution) actions that did not fail.
- An action is followed by `GET /api/machineactions/{id}` (Machine.Read.All) to its end: `Pending`, `InProgress`,
  then `Succeeded`, `Failed`, `TimeOut` or `Cancelled` (the MachineAction reference). One that has not ended can be
  cancelled: `POST /api/machineactions/{id}/cancel` `{"Comment": ...}`, 200 with the action (any of the
  Machine.Isolate, .RestrictExecution, .Scan, .CollectForensics, .StopAndQuarantine permissions). Each of these
  APIs allows 100 calls a minute and 1,500 an hour per tenant.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.graph.odata import is_guid, odata_literal

from .client import DefenderClient, segment
from .errors import DefenderError

MACHINE_ID = re.compile(r"^[0-9a-fA-F]{40}$")
# An action that may still take effect, or did: counts for the machine's state.
LIVE_STATUSES = frozenset({"Pending", "InProgress", "Succeeded"})
UNDER_WAY = frozenset({"Pending", "InProgress"})  # not ended: followed, and cancellable
ENDED_BADLY = frozenset({"Failed", "TimeOut", "Cancelled"})
PAIRS = {"Isolate": ("Isolate", "Unisolate"), "Unisolate": ("Isolate", "Unisolate"),
         "RestrictCodeExecution": ("RestrictCodeExecution", "UnrestrictCodeExecution"),
         "UnrestrictCodeExecution": ("RestrictCodeExecution", "UnrestrictCodeExecution")}


def is_machine_id(value: str | None) -> bool:
    return bool(value) and MACHINE_ID.match(str(value)) is not None


@dataclass(frozen=True)
class Lookup:
    """How one alert device is looked up: the query that found it (for the record) and the machines found."""

    how: str
    machines: list[dict[str, Any]]


async def get_machine(defender: DefenderClient, machine_id: str) -> dict[str, Any] | None:
    """The machine, or None when Defender does not know it (404)."""
    try:
        return await defender.get(f"api/machines/{segment(machine_id)}", what="read the machine")
    except DefenderError as exc:
        if exc.not_found:
            return None
        raise


async def find_machines(defender: DefenderClient, field: str, value: str) -> list[dict[str, Any]]:
    """Machines whose `field` equals `value` (`aadDeviceId`, `computerDnsName`)."""
    page = await defender.get("api/machines", {"$filter": f"{field} eq {odata_literal(value)}"},
                              what="look the machine up")
    found = page.get("value") if isinstance(page, dict) else None
    return [m for m in found or [] if isinstance(m, dict) and isinstance(m.get("id"), str)]


def _last_seen(machine: dict[str, Any]) -> str:
    return str(machine.get("lastSeen") or "")


async def lookup(defender: DefenderClient, *, mde_id: str | None, aad_device_id: str | None,
                 dns_name: str | None) -> Lookup:
    """The machines one alert device names, by its most precise identifier that Defender knows: its Defender id,
    its Entra device id (the one seen last), then its DNS name (every machine of that name: the caller decides
    what several mean)."""
    if is_machine_id(mde_id):
        machine = await get_machine(defender, str(mde_id).lower())
        if machine is not None:
            return Lookup(f"machine id {mde_id}", [machine])
    if aad_device_id and is_guid(aad_device_id):
        found = await find_machines(defender, "aadDeviceId", aad_device_id)
        if found:
            return Lookup(f"Entra device id {aad_device_id}", [max(found, key=_last_seen)])
    if dns_name:
        found = await find_machines(defender, "computerDnsName", dns_name)
        if found:
            return Lookup(f"DNS name {dns_name}", found)
    tried = [f"{how} {value}" for how, value in (("machine id", mde_id if is_machine_id(mde_id) else None),
                                                 ("Entra device id", aad_device_id), ("DNS name", dns_name)) if value]
    return Lookup(" or ".join(tried), [])


async def actions_of(defender: DefenderClient, machine_id: str, action_type: str) -> list[dict[str, Any]]:
    query = {"$filter": f"machineId eq {odata_literal(machine_id)} and type eq {odata_literal(action_type)}"}
    page = await defender.get("api/machineactions", query, what="read the machine's actions")
    found = page.get("value") if isinstance(page, dict) else None
    return [a for a in found or [] if isinstance(a, dict)]


async def latest_of_pair(defender: DefenderClient, machine_id: str, action_type: str) -> dict[str, Any] | None:
    """The latest Isolate/Unisolate (or Restrict/Unrestrict) action on the machine that did not fail, cancel or
    time out: what the machine's state is, or is becoming. None when there is none."""
    # Two reads at once (one round trip): each filters on one type, the $filter form Defender documents.
    pages = await asyncio.gather(*(actions_of(defender, machine_id, kind) for kind in PAIRS[action_type]))
    actions = [a for page in pages for a in page if a.get("status") in LIVE_STATUSES]
    return max(actions, key=created_at, default=None)


def created_at(action: dict[str, Any]) -> datetime:
    """When the action was created (Defender writes 7 fractional digits, or fewer: compared as times, not text)."""
    try:
        return datetime.fromisoformat(str(action.get("creationDateTimeUtc")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


async def request_action(defender: DefenderClient, machine_id: str, action: str, body: dict[str, Any],
                         what: str) -> dict[str, Any]:
    """POST the action; the MachineAction Defender created (DefenderError, `action_pending` when one of that type
    is already pending on the machine)."""
    created = await defender.post(f"api/machines/{segment(machine_id)}/{action}", body, what=what)
    if not isinstance(created, dict):
        raise DefenderError("defender_error", f"Microsoft Defender for Endpoint answered {what} without the action.")
    return created


async def get_action(defender: DefenderClient, action_id: str) -> dict[str, Any]:
    """The machine action as it stands (DefenderError `defender_not_found` when Defender does not know it)."""
    found = await defender.get(f"api/machineactions/{segment(action_id)}", what="read the machine action")
    if not isinstance(found, dict):
        raise DefenderError("defender_error", "Microsoft Defender for Endpoint answered a machine action read "
                            "without the action.")
    return found


async def cancel_action(defender: DefenderClient, action_id: str, comment: str) -> dict[str, Any]:
    """Cancel an action that has not ended; the action as Defender answers it (200). Defender's answer to an action
    that has ended is not documented: callers read the action again on any refusal rather than trusting a code."""
    cancelled = await defender.post(f"api/machineactions/{segment(action_id)}/cancel", {"Comment": comment},
                                    what="cancel the machine action")
    if not isinstance(cancelled, dict):
        raise DefenderError("defender_error", "Microsoft Defender for Endpoint answered a cancel without the action.")
    return cancelled
