"""The `clientState` Riposte gives each tenant's Graph subscription, and its check on every notification.

Derived, not stored: HMAC-SHA256 of the tenant id under the deployment key `graph-notification-key`
(shared/secrets.load_key), so no table holds it. Compared in constant time; never logged.

Rotating the key invalidates every existing subscription's value. Each subscription row therefore keeps
the `fingerprint` of the key it was created under (an HMAC of a fixed label: it identifies the key and
reveals nothing of it), and the maintenance timer recreates a subscription whose fingerprint is not the
current key's (shared/notifications/subscriptions.py; docs/alert-sources.md, "Rotating the key").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping

from shared.secrets import MissingSecretError, load_key

log = logging.getLogger("riposte.notifications")

KEY_NAME = "graph-notification-key"
_LABEL = b"riposte/graph-subscription/v1:"
_FINGERPRINT_LABEL = b"riposte/graph-notification-key/fingerprint/v1"


def notification_key(env: Mapping[str, str] | None = None) -> bytes:
    """The deployment key (MissingSecretError / ValueError when absent or malformed)."""
    return load_key(KEY_NAME, env)


def configured_key() -> bytes | None:
    """The key, or None (logged: the message names the setting, never a value) when it is not usable:
    every notification is then ignored and no subscription is kept."""
    try:
        return notification_key()
    except (MissingSecretError, ValueError) as exc:
        log.error("graph notifications: %s", exc)
        return None


def client_state(key: bytes, tenant_id: str) -> str:
    """43 URL-safe characters (Graph allows 128)."""
    digest = hmac.new(key, _LABEL + tenant_id.lower().encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def matches(key: bytes, tenant_id: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(client_state(key, tenant_id).encode(), given.encode())


def fingerprint(key: bytes) -> str:
    """16 URL-safe characters (96 bits) naming the key: enough to tell keys apart, useless to forge with."""
    digest = hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()
