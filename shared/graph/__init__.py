"""Microsoft Graph access: settings, credentials, per-tenant clients and JSON batching.

msgraph-core imports the ``Deprecated`` package without declaring it; it must be installed.
"""

from .batch import BatchError, BatchRetryPolicy, BatchStep, BatchStepResult, batch_payload, send_batch
from .client_factory import (
    GraphClientFactory,
    InvalidTenantIdError,
    LocalTokenNotAllowedError,
    validate_tenant_id,
)
from .credentials import LocalTokenCredential
from .settings import GraphAuthMode, GraphSettings, load_graph_settings

__all__ = [
    "BatchError",
    "BatchRetryPolicy",
    "BatchStep",
    "BatchStepResult",
    "GraphAuthMode",
    "GraphClientFactory",
    "GraphSettings",
    "InvalidTenantIdError",
    "LocalTokenCredential",
    "LocalTokenNotAllowedError",
    "batch_payload",
    "load_graph_settings",
    "send_batch",
    "validate_tenant_id",
]
