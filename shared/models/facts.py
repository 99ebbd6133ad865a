"""The facts a run reads of the alert's user and device: their names only. shared/flow/facts.py reads them from
Graph, the interpreter keeps what was read (shared/interpreter/learned.py), templates and parameter schemas name
them (shared/templates.py): data every layer may know, so the template language needs no domain code."""

from __future__ import annotations

USER_FACTS = ("id", "upn", "type", "accountEnabled", "isAdmin", "adminRoles", "riskLevel", "riskState",
              "department")
# Facts that cost a Graph request few conditions need: read only when an expression names them.
ON_DEMAND_USER_FACTS = ("mfaRegistered",)
DEVICE_FACTS = ("id", "name", "platform", "complianceState", "compliant", "managed")
