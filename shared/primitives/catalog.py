"""The catalog of primitives: every family module registers its primitives on import.

Docs, `GET /api/primitives` and save-time validation read this catalog, so they cannot drift apart.
Adding a family is one module (params, handlers, `register(...)`) and one line in FAMILIES.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from shared.primitives import (
    alert_writeback,
    chat,
    containment,
    devices,
    evidence,
    mailbox,
    network,
    notify,
    tickets,
    user_access,
    user_mfa,
    user_recovery,
    user_risk,
    webhook,
)
from shared.primitives.registry import REGISTRY, Primitive

FAMILIES = (
    user_access, containment, notify, devices, network, mailbox, user_recovery, user_mfa, user_risk,
    webhook, chat, tickets, alert_writeback, evidence,
)

PRIMITIVES: dict[str, Primitive] = REGISTRY

# The discriminated union a playbook's `actions` are validated against: unknown `type` -> 400.
ActionSpec = Annotated[Union[tuple(p.params for p in PRIMITIVES.values())], Field(discriminator="type")]  # noqa: UP007
