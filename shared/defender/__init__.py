"""Microsoft Defender for Endpoint's API: the client (per tenant, over the loop's shared HTTP client) and its
classified errors. Machine actions: shared/defender/machines.py."""

from .client import (
    DEFENDER_RESOURCE,
    DEFENDER_SCOPE,
    DefenderClient,
    DefenderRetryPolicy,
    defender_scope,
    open_defender,
    segment,
)
from .errors import DEFENDER_API_NAME, DEFENDER_APP_ID, DefenderError, classify

__all__ = [
    "DEFENDER_API_NAME",
    "DEFENDER_APP_ID",
    "DEFENDER_RESOURCE",
    "DEFENDER_SCOPE",
    "DefenderClient",
    "DefenderError",
    "DefenderRetryPolicy",
    "classify",
    "defender_scope",
    "open_defender",
    "segment",
]
