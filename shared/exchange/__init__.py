"""Exchange Online through its admin REST endpoint (InvokeCommand), for what Graph cannot do."""

from .client import (
    EXCHANGE_PERMISSION,
    EXCHANGE_RESOURCE,
    EXCHANGE_ROLE,
    CmdletResult,
    ExchangeAdminClient,
    ExchangeError,
    ExchangeRetryPolicy,
    classify,
    exchange_scope,
)

__all__ = [
    "EXCHANGE_PERMISSION",
    "EXCHANGE_RESOURCE",
    "EXCHANGE_ROLE",
    "CmdletResult",
    "ExchangeAdminClient",
    "ExchangeError",
    "ExchangeRetryPolicy",
    "classify",
    "exchange_scope",
]
