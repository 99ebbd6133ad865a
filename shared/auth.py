"""Who is calling and what they may do.

In Azure, App Service authentication (Entra ID) validates the caller and passes the principal in
`X-MS-CLIENT-PRINCIPAL` (base64 JSON; the platform strips any copy a client sends). The app roles
PLAYBOOKS_READ, PLAYBOOKS_MANAGE and SECURITY_MANAGE come from its role claims. In the local stack
(development only) a configured local principal stands in for it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.settings import AppSettings


class Role(StrEnum):
    PLAYBOOKS_READ = "PLAYBOOKS_READ"
    PLAYBOOKS_MANAGE = "PLAYBOOKS_MANAGE"
    SECURITY_MANAGE = "SECURITY_MANAGE"


class Permission(StrEnum):
    READ = "read"  # playbooks, tenants, alerts, runs, primitives
    MANAGE = "manage"  # create, edit, delete playbooks, tenants and groups
    RUN = "run"  # run a playbook by hand


# Which roles grant which permission. Managers and responders can also read what they act on.
GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.READ: frozenset({Role.PLAYBOOKS_READ, Role.PLAYBOOKS_MANAGE, Role.SECURITY_MANAGE}),
    Permission.MANAGE: frozenset({Role.PLAYBOOKS_MANAGE}),
    Permission.RUN: frozenset({Role.SECURITY_MANAGE}),
}

PRINCIPAL_HEADER = "x-ms-client-principal"


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[str]

    def may(self, permission: Permission) -> bool:
        return bool(self.roles & {r.value for r in GRANTS[permission]})


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _from_easy_auth(header_value: str) -> Principal:
    try:
        doc = json.loads(base64.b64decode(header_value, validate=False))
        claims = doc.get("claims") or []
        role_type = doc.get("role_typ") or "roles"
        name_type = doc.get("name_typ") or "name"
        roles = frozenset(c["val"] for c in claims if c.get("typ") in (role_type, "roles"))
        name = next((c["val"] for c in claims if c.get("typ") in (name_type, "preferred_username")), "unknown")
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError):
        raise AuthError(401, "unauthenticated", "The client principal header is malformed.") from None
    return Principal(name=str(name), roles=roles)


def resolve_principal(headers: Mapping[str, str], settings: AppSettings) -> Principal:
    """The caller, or AuthError(401) when there is none."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if lowered.get(PRINCIPAL_HEADER):
        # Only behind App Service authentication is the header the platform's: with it off, a client could
        # send the header and claim any role.
        if not settings.is_development and not settings.platform_auth_enabled:
            raise AuthError(401, "unauthenticated", "App Service authentication is not enabled, so the client "
                            "principal header cannot be trusted.")
        return _from_easy_auth(lowered[PRINCIPAL_HEADER])
    if settings.is_development and settings.local_principal_roles is not None:
        return Principal(name=settings.local_principal_name, roles=settings.local_principal_roles)
    raise AuthError(401, "unauthenticated", "Sign in first: no authenticated principal on the request.")


def authorize(headers: Mapping[str, str], settings: AppSettings, permission: Permission) -> Principal:
    principal = resolve_principal(headers, settings)
    if not principal.may(permission):
        needed = " or ".join(sorted(r.value for r in GRANTS[permission]))
        raise AuthError(403, "forbidden", f"This needs the {needed} role.")
    return principal
