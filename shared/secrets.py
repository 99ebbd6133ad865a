"""Secrets reach primitives through this one seam: PSA API keys, webhook signing keys, chat webhook URLs.

In Azure they are Key Vault references in app settings, which the platform resolves into the
environment; locally they are plain settings. A secret is named in a playbook only by its name
(e.g. `"secret": "halo-client-secret"`), never by value, and its value is never logged or stored
in run history.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

PREFIX = "RIPOSTE_SECRET_"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class MissingSecretError(LookupError):
    """The named secret is not configured (the message names the setting, never a value)."""


def setting_name(name: str) -> str:
    """`halo-client-secret` -> `RIPOSTE_SECRET_HALO_CLIENT_SECRET`."""
    if not NAME.match(name):
        raise ValueError("secret names are lower-case letters, digits and '-'")
    return PREFIX + name.upper().replace("-", "_")


def get_secret(name: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = env.get(setting_name(name), "")
    if not value:
        raise MissingSecretError(f"secret '{name}' is not configured (app setting {setting_name(name)})")
    return value
