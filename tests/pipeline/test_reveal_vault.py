"""The password vault's row of a reset is written from the event loop (RevealStore.put_async over the async
tables' lean create): the same row as the sync `put`, no sync table client, and a taken ticket still refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceExistsError

from shared import passwords
from shared.store.tables import Tables

KEY = base64.b64decode(passwords.new_reveal_key())
USERS = [{"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "upn": "adele@contoso.example"}]


class NoSyncTables(Tables):
    """Any use of the sync client fails the test."""

    def __init__(self) -> None:
        pass

    def __call__(self, logical_name: str):
        raise AssertionError("the vault's row went through the sync table client")


class NotDue:
    def due(self) -> bool:  # the once-a-minute purge of expired rows (a query on the sync client) is not this test's
        return False


async def test_a_reset_seals_its_passwords_from_the_event_loop(async_tables, tables):
    store = passwords.RevealStore(NoSyncTables(), async_tables, purge_schedule=NotDue())
    pending = await passwords.seal_new_passwords("run-1", "tenant-1", USERS, key_loader=lambda: KEY, store=store)
    assert isinstance(pending, passwords.PendingPasswords)

    taken = passwords.RevealStore(tables).take("run-1", pending.ticket)  # read back through the sync SDK
    assert taken.status is passwords.TakeStatus.TAKEN
    assert taken.expires_at == pending.expires_at
    entries = passwords.unseal(KEY, taken.sealed, passwords.associated_data("run-1", pending.ticket))
    assert entries == [USERS[0] | {"password": pending.password(0)}]


async def test_the_lean_row_is_the_rows_put_writes(async_tables, tables):
    sealed = passwords.seal(KEY, [{"id": "u", "password": "x"}], b"aad")
    expires = datetime(2026, 12, 5, 1, 2, 3, tzinfo=UTC)
    await passwords.RevealStore(tables, async_tables).put_async("run-2", "lean", "tenant-2", sealed, expires, 1)
    passwords.RevealStore(tables).put("run-2", "sync", "tenant-2", sealed, expires, 1)

    table = tables(passwords.REVEALS_TABLE)
    lean, sync = table.get_entity("run-2", "lean"), table.get_entity("run-2", "sync")
    assert {k: v for k, v in lean.items() if k != "RowKey"} == {k: v for k, v in sync.items() if k != "RowKey"}
    assert lean["expiresAt"] == expires and lean["users"] == 1


async def test_a_ticket_is_written_once(async_tables, tables):
    sealed = passwords.seal(KEY, [{"id": "u", "password": "x"}], b"aad")
    store = passwords.RevealStore(tables, async_tables)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    await store.put_async("run-3", "t", "tenant", sealed, expires, 1)
    with pytest.raises(ResourceExistsError):
        await store.put_async("run-3", "t", "tenant", sealed, expires, 1)
