"""Table clients by logical name, created once per process, with an optional per-deployment prefix."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableClient, TableServiceClient

PLAYBOOKS = "Playbooks"
DIRECTORY = "Directory"  # tenants, tenant groups and the revision row
ALERTS = "Alerts"  # one partition per alert: the alert, its match decisions, its runs and their steps
AUDIT = "Audit"
ALL_TABLES = (PLAYBOOKS, DIRECTORY, ALERTS, AUDIT)

# Table Storage limits: 64 KiB per property, 1 MiB per entity, strings counted in UTF-16 (2 bytes a unit).
# Azurite checks the property limit but counts the entity in UTF-8: entity_size is Azure's count.
MAX_PROPERTY_BYTES = 64 * 1024
MAX_ENTITY_BYTES = 1024 * 1024
CHUNK_CHARS = 30_000  # JSON text is ASCII (escaped): 60,000 bytes in UTF-16
MAX_CHUNKS = 16  # 960,000 bytes: one chunked property leaves room in its 1 MiB entity


class Tables:
    def __init__(self, service: TableServiceClient, prefix: str = "riposte"):
        self._service = service
        self._prefix = prefix
        self._clients: dict[str, TableClient] = {}
        self._lock = threading.Lock()
        # Revision bumps written through this object (shared/store/directory.bump_revision): caches of what
        # the revision covers compare it to see this process's own changes at once (shared/matching/snapshot.py).
        self.local_changes = 0

    def note_change(self) -> None:
        with self._lock:
            self.local_changes += 1

    def __call__(self, logical_name: str) -> TableClient:
        client = self._clients.get(logical_name)
        if client is not None:
            return client
        with self._lock:
            if logical_name not in self._clients:
                name = f"{self._prefix}{logical_name}"
                try:
                    self._service.create_table(name)
                except ResourceExistsError:
                    pass
                self._clients[logical_name] = self._service.get_table_client(name)
            return self._clients[logical_name]


def put_json(entity: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    """Store `value` as JSON across `name`, `name_1`, ... properties; return the entity."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    chunks = [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"{name} is too large to store ({len(text)} characters)")
    entity[name] = chunks[0]
    for index, chunk in enumerate(chunks[1:], start=1):
        entity[f"{name}_{index}"] = chunk
    entity[f"{name}_chunks"] = len(chunks)
    return entity


def entity_size(entity: dict[str, Any]) -> int:
    """The entity's size as Table Storage counts it against MAX_ENTITY_BYTES."""

    def value_size(value: Any) -> int:
        if isinstance(value, str):
            return 4 + 2 * len(value.encode("utf-16-le", "surrogatepass")) // 2
        if isinstance(value, bytes | bytearray):
            return 4 + len(value)
        if isinstance(value, bool):
            return 1
        return 16 if isinstance(value, uuid.UUID) else 8  # int64, double, datetime

    size = 4 + value_size(entity.get("PartitionKey", "")) + value_size(entity.get("RowKey", ""))
    return size + sum(8 + 2 * len(name) + value_size(value) for name, value in entity.items()
                      if name not in ("PartitionKey", "RowKey"))


def get_json(entity: dict[str, Any], name: str, default: Any = None) -> Any:
    if name not in entity:
        return default
    count = int(entity.get(f"{name}_chunks", 1))
    text = entity[name] + "".join(entity.get(f"{name}_{i}", "") for i in range(1, count))
    return json.loads(text) if text else default
