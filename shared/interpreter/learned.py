"""What a run learns about the alert's user and device while it runs, for the steps after it.

A condition reads facts from Graph (`user.upn` of a guest the alert names by object id only); a primitive
reads its targets (disable_user records each user's id and UPN). Later steps' templates should see them:
`{{ users[0].upn }}` must not print nothing when the run has read it. Pure functions over JSON (the
interpreter calls them; no I/O): `learn_*` keep what was read, `with_learned` gives the alert as the next
primitive gets it: its first user's and first device's missing names filled in, and `facts` (the user and
device facts read so far, each fact None until read, and what `http_request` steps saved: `learn_saved`).
"""

from __future__ import annotations

from typing import Any

from shared.models.facts import DEVICE_FACTS, ON_DEMAND_USER_FACTS, USER_FACTS


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()


def _merge(known: dict[str, Any], root: str, values: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in values.items() if v is not None}
    if not kept:
        return known
    return known | {root: (known.get(root) or {}) | kept}


def learn_from_check(known: dict[str, Any], checked: dict[str, Any] | None) -> dict[str, Any]:
    """Add the user and device facts a condition read (a check's `facts`)."""
    facts = (checked or {}).get("facts") or {}
    for root, names in (("user", USER_FACTS + ON_DEMAND_USER_FACTS), ("device", DEVICE_FACTS)):
        if isinstance(facts.get(root), dict):
            known = _merge(known, root, {k: v for k, v in facts[root].items() if k in names})
    return known


def learn_from_step(known: dict[str, Any], alert: dict[str, Any], step: dict[str, Any] | None) -> dict[str, Any]:
    """Add what a primitive recorded of the alert's first user (its id and UPN as Graph has them) and first
    device (the Intune device it was matched to: its id and name)."""
    result = (step or {}).get("result") or {}
    entities = alert.get("entities") or {}
    users, devices = entities.get("users") or [], entities.get("devices") or []
    if users and isinstance(result.get("users"), list):
        first = users[0]
        for entry in result["users"]:
            if isinstance(entry, dict) and (_same(entry.get("id"), first.get("id"))
                                            or _same(entry.get("upn"), first.get("upn"))):
                known = _merge(known, "user", {"id": entry.get("id"), "upn": entry.get("upn")})
                break
    if devices and isinstance(result.get("devices"), list):
        first = devices[0]
        for entry in result["devices"]:
            matched = entry.get("matchedBy") if isinstance(entry, dict) else None
            if isinstance(matched, dict) and any(_same(matched.get(k), first.get(k))
                                                 for k in ("azureAdDeviceId", "id", "name")):
                known = _merge(known, "device", {"id": entry.get("id"), "name": entry.get("deviceName")})
                break
    return known


def learn_saved(known: dict[str, Any], step: dict[str, Any] | None) -> dict[str, Any]:
    """Keep what an http_request step saved as `facts.<saveAs>` (its bounded JSON answer). A failed step saves
    None under its name: a later step reads null, never an older answer it did not mean."""
    step = step or {}
    result = step.get("result") or {}
    name = result.get("saveAs")
    if step.get("actionType") != "http_request" or not isinstance(name, str):
        return known
    value = result.get("facts") if step.get("status") == "succeeded" else None
    return known | {"saved": (known.get("saved") or {}) | {name: value}}


def saved_facts(known: dict[str, Any], names: frozenset[str]) -> dict[str, Any] | None:
    """The saved facts among `names` (those an expression reads), each None until saved; None for no names."""
    if not names:
        return None
    saved = known.get("saved") or {}
    return {name: saved.get(name) for name in sorted(names)}


def with_learned(alert: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """The alert (JSON) as the next primitive gets it: the first user's and device's missing names filled
    from what was learned, and `facts` (`user`, `device`: every fact, None until read)."""
    entities = dict(alert.get("entities") or {})
    user, device = known.get("user") or {}, known.get("device") or {}
    users = list(entities.get("users") or [])
    if users and user and (_same(users[0].get("id"), user.get("id")) or _same(users[0].get("upn"), user.get("upn"))):
        users[0] = users[0] | {k: user[k] for k in ("id", "upn") if not users[0].get(k) and user.get(k)}
    devices = list(entities.get("devices") or [])
    if devices and device.get("name") and not devices[0].get("name"):
        devices[0] = devices[0] | {"name": device["name"]}
    return alert | {"entities": entities | {"users": users, "devices": devices},
                    "facts": (known.get("saved") or {}) | {
                        "user": dict.fromkeys(USER_FACTS + ON_DEMAND_USER_FACTS) | user,
                        "device": dict.fromkeys(DEVICE_FACTS) | device}}
