"""Table Storage access: one TableServiceClient per process (and async ones per event loop, for intake),
from a connection string or identity."""

from __future__ import annotations

from functools import lru_cache

from azure.data.tables import TableServiceClient
from azure.data.tables.aio import TableServiceClient as AsyncTableServiceClient

from shared.settings import AppSettings, get_settings
from shared.store.async_tables import client_options


def create_table_service(settings: AppSettings) -> TableServiceClient:
    # client_options: with no proxy configured, requests does not scan the environment (proxies, .netrc) for
    # every request, as it does by default; the pollers' and activities' table calls paid that each time.
    if settings.storage_connection_string:
        return TableServiceClient.from_connection_string(settings.storage_connection_string, **client_options())
    if settings.table_service_uri:
        # Imported lazily: identity plumbing is only needed in Azure.
        from azure.identity import ManagedIdentityCredential

        # The app's user-assigned identity, the same one the Functions host uses for AzureWebJobsStorage.
        credential = ManagedIdentityCredential(client_id=settings.storage_client_id)
        return TableServiceClient(endpoint=settings.table_service_uri, credential=credential, **client_options())
    raise RuntimeError(
        "No table storage configured: set AzureWebJobsStorage (connection string) "
        "or AzureWebJobsStorage__tableServiceUri (identity-based)."
    )


def create_async_table_service(settings: AppSettings) -> AsyncTableServiceClient:
    """The async twin of create_table_service (shared/store/async_tables.py says why intake uses it)."""
    if settings.storage_connection_string:
        return AsyncTableServiceClient.from_connection_string(settings.storage_connection_string, **client_options())
    if settings.table_service_uri:
        from azure.identity.aio import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=settings.storage_client_id)
        return AsyncTableServiceClient(endpoint=settings.table_service_uri, credential=credential, **client_options())
    raise RuntimeError(
        "No table storage configured: set AzureWebJobsStorage (connection string) "
        "or AzureWebJobsStorage__tableServiceUri (identity-based)."
    )


@lru_cache(maxsize=1)
def get_table_service() -> TableServiceClient:
    return create_table_service(get_settings())
