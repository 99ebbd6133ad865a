"""Table Storage's entity limit as Azure counts it, which Azurite does not.

Azurite refuses a property over 64 KiB but counts an entity's 1 MiB in UTF-8; Azure counts strings in
UTF-16, so an entity of 800,000 ASCII characters passes Azurite and fails in Azure. StrictTables wraps
every write so a test sees Azure's refusal.
"""

from __future__ import annotations

from typing import Any

from azure.data.tables import TableClient

from shared.store.async_tables import AsyncTables
from shared.store.tables import MAX_ENTITY_BYTES, MAX_PROPERTY_BYTES, Tables, entity_size


class EntityTooLarge(AssertionError):
    pass


def check_entity(entity: dict[str, Any]) -> None:
    for name, value in entity.items():
        size = len(value) if isinstance(value, bytes) else 2 * len(value) if isinstance(value, str) else 8
        if size > MAX_PROPERTY_BYTES:
            raise EntityTooLarge(f"property {name} is {size} bytes")
    if entity_size(entity) > MAX_ENTITY_BYTES:
        raise EntityTooLarge(f"entity {entity.get('RowKey')} is {entity_size(entity)} bytes")


class StrictClient:
    def __init__(self, client: TableClient):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_entity(self, entity, **kw):
        check_entity(entity)
        return self._client.create_entity(entity, **kw)

    def upsert_entity(self, entity, **kw):
        check_entity(entity)
        return self._client.upsert_entity(entity, **kw)

    def update_entity(self, entity, **kw):
        check_entity(entity)
        return self._client.update_entity(entity, **kw)

    def submit_transaction(self, operations, **kw):
        for operation in operations:
            check_entity(operation[1])
        return self._client.submit_transaction(operations, **kw)


class StrictTables(Tables):
    def __call__(self, logical_name: str) -> StrictClient:
        return StrictClient(super().__call__(logical_name))


class StrictAsyncClient(StrictClient):
    """StrictClient for an async client: the checks are the same, the calls are awaited by the caller."""


class StrictAsyncTables(AsyncTables):
    async def __call__(self, logical_name: str) -> StrictAsyncClient:
        return StrictAsyncClient(await super().__call__(logical_name))
