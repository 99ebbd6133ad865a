"""The catalog of primitives: every family module registers its primitives on import.

Docs, `GET /api/primitives` and the runner read this catalog, so they cannot drift apart. A primitive's parameter
schema lives in shared/schemas/ (playbook validation reads it without loading a handler); the catalog checks on
import that every schema has exactly one registered handler and the other way round.
Adding a family is a schema module, a handler module (handlers, `register(...)`) and one line each in SCHEMAS
(shared/schemas/primitives.py) and FAMILIES.
"""

from __future__ import annotations

from shared.primitives import (
    alert_writeback,
    chat,
    containment,
    devices,
    evidence,
    http_request,
    indicators,
    machine_actions,
    mailbox,
    network,
    notify,
    sentinel,
    tickets,
    user_access,
    user_mfa,
    user_recovery,
    user_risk,
    webhook,
)
from shared.primitives.registry import REGISTRY, Primitive
from shared.schemas.primitives import PRIMITIVE_PARAMS

FAMILIES = (
    user_access, containment, notify, devices, machine_actions, network, mailbox, user_recovery, user_mfa, user_risk,
    webhook, chat, tickets, alert_writeback, sentinel, evidence, indicators, http_request,
)


def _in_schema_order(registry: dict[str, Primitive]) -> dict[str, Primitive]:
    unregistered = sorted(set(PRIMITIVE_PARAMS) - set(registry))
    unschemed = sorted(set(registry) - set(PRIMITIVE_PARAMS))
    if unregistered or unschemed:
        raise LookupError(f"schemas without a handler: {unregistered}; handlers without a schema: {unschemed}")
    for name, schema in PRIMITIVE_PARAMS.items():
        if registry[name].params is not schema:
            raise LookupError(f"{name} is registered with {registry[name].params.__name__}, not {schema.__name__}")
    return {name: registry[name] for name in PRIMITIVE_PARAMS}


PRIMITIVES: dict[str, Primitive] = _in_schema_order(REGISTRY)
