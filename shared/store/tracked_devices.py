"""The devices the managedDevices source follows (shared/pollers/compliance.py): one row per device
non-compliant at the last poll, in the tenant's partition of their own table, device id → its compliance
alert's id ("" for a baseline device).

A row per device, not one property of the source's state: a tenant with thousands of non-compliant
devices would pass Table Storage's 64 KiB per property and 1 MiB per entity, and the state rows are read
by every pollers' tick (PollStates.snapshot), so they stay small. A poll reads the partition once and
writes only what changed, in transactions of at most MAX_BATCH operations (Table Storage's limit), each
all or nothing. The poll holds the source's claim while it writes; a crash between two transactions
leaves some devices updated and some not, which the next poll (the same window again) finishes: a device
already written is not new any more, one not yet written is compared as before.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

from azure.data.tables import TableClient, UpdateMode
from azure.data.tables.aio import TableClient as AsyncTableClient

TRACKED_DEVICES = "TrackedDevices"
MAX_BATCH = 100  # operations in one entity-group transaction
# Intune's ids are GUIDs; anything else is encoded, since a RowKey may not hold / \ # ? or control characters.
PLAIN_KEY = re.compile(r"[A-Za-z0-9._-]{1,512}")
_SELECT = ["deviceId", "alertId"]


def row_key(device_id: str) -> str:
    if PLAIN_KEY.fullmatch(device_id):
        return device_id
    return "b64~" + base64.urlsafe_b64encode(device_id.encode()).decode()


def read(table: TableClient, tenant_id: str) -> dict[str, str]:
    """Every tracked device of the tenant, device id → alert id (one query, paged by the SDK)."""
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}, select=_SELECT)
    return {row["deviceId"]: row.get("alertId") or "" for row in rows}


async def read_async(table: AsyncTableClient, tenant_id: str) -> dict[str, str]:
    """read() on the async client (the pollers')."""
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}, select=_SELECT)
    return {row["deviceId"]: row.get("alertId") or "" async for row in rows}


def _operations(tenant_id: str, before: dict[str, str], after: dict[str, str]) -> Iterator[tuple]:
    for device_id, alert_id in after.items():
        if before.get(device_id) != alert_id:
            yield ("upsert", {"PartitionKey": tenant_id, "RowKey": row_key(device_id), "deviceId": device_id,
                              "alertId": alert_id}, {"mode": UpdateMode.REPLACE})
    for device_id in before.keys() - after.keys():
        yield ("delete", {"PartitionKey": tenant_id, "RowKey": row_key(device_id)})


async def replace(table: AsyncTableClient, tenant_id: str, before: dict[str, str], after: dict[str, str]) -> int:
    """Make the tenant's rows `after`, given they are `before` (as read): only the changes are written.
    The number of row operations."""
    operations = list(_operations(tenant_id, before, after))
    for start in range(0, len(operations), MAX_BATCH):
        await table.submit_transaction(operations[start:start + MAX_BATCH])
    return len(operations)


def delete_tenant(table: TableClient, tenant_id: str) -> None:
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": tenant_id}, select=["PartitionKey", "RowKey"])
    operations = [("delete", {"PartitionKey": tenant_id, "RowKey": row["RowKey"]}) for row in rows]
    for start in range(0, len(operations), MAX_BATCH):
        table.submit_transaction(operations[start:start + MAX_BATCH])
