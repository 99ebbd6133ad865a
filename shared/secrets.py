"""Secrets reach primitives through this one seam: PSA API keys, webhook signing keys, chat webhook URLs.

In Azure they are Key Vault references in app settings, which the platform resolves into the
environment; locally they are plain settings. A secret is named in a playbook only by its name
(e.g. `"secret": "halo-client-secret"`), never by value, and its value is never logged or stored
in run history.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping

PREFIX = "RIPOSTE_SECRET_"
_UNRESOLVED_REFERENCE = "@Microsoft.KeyVault("
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


def load_key(name: str, env: Mapping[str, str] | None = None, *, min_bytes: int = 32,
             exact: bool = False) -> bytes:
    """A random key kept as a base64 secret; raises ValueError whose message says what is wrong with it."""
    encoded = get_secret(name, env).strip()
    if encoded.startswith(_UNRESOLVED_REFERENCE):
        # App Service leaves the reference text in place when it cannot read the vault.
        raise ValueError(f"secret '{name}' is a Key Vault reference the platform could not resolve")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"secret '{name}' is not base64") from None
    if exact and len(key) != min_bytes:
        raise ValueError(f"secret '{name}' must be {min_bytes} bytes, base64-encoded")
    if len(key) < min_bytes:
        raise ValueError(f"secret '{name}' must be at least {min_bytes} random bytes, base64-encoded")
    return key


def new_key(size: int = 32) -> str:
    """A fresh random key, base64, for a key secret."""
    return base64.b64encode(secrets.token_bytes(size)).decode()
