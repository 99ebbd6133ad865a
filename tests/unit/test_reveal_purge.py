"""A new password reset purges expired reveals at most once a minute per process (shared/passwords.py), not on
every reset: the purge queries the whole table."""

from __future__ import annotations

import base64

from shared import passwords


class CountingStore(passwords.RevealStore):
    def __init__(self, schedule: passwords.PurgeSchedule) -> None:
        self.rows, self.purges, self.purge_schedule = {}, 0, schedule

    def put(self, run_id, ticket, tenant_id, sealed, expires_at, users) -> None:
        self.rows[(run_id, ticket)] = sealed

    def purge_expired(self, now=None) -> int:
        self.purges += 1
        return 0


async def test_resets_purge_once_a_minute():
    clock = [1000.0]
    store = CountingStore(passwords.PurgeSchedule(every=60, clock=lambda: clock[0]))
    key = base64.b64decode(passwords.new_reveal_key())

    async def reset(n: int) -> None:
        pending = await passwords.seal_new_passwords(f"run-{n}", "tenant", [{"id": "u", "upn": "u@x.example"}],
                                                     key_loader=lambda: key, store=store)
        assert isinstance(pending, passwords.PendingPasswords)

    for n in range(5):
        await reset(n)
    clock[0] += 59
    await reset(5)
    assert store.purges == 1 and len(store.rows) == 6
    clock[0] += 1
    await reset(6)
    assert store.purges == 2


async def test_vaults_that_share_the_processs_schedule_purge_once_between_them():
    """services.reveal_store() builds a vault per use, each with the process's one schedule: no module global."""
    schedule = passwords.PurgeSchedule(every=60, clock=lambda: 1000.0)
    first, second = CountingStore(schedule), CountingStore(schedule)
    key = base64.b64decode(passwords.new_reveal_key())
    for n, store in enumerate((first, second)):
        await passwords.seal_new_passwords(f"run-{n}", "tenant", [{"id": "u", "upn": "u@x.example"}],
                                           key_loader=lambda: key, store=store)
    assert first.purges + second.purges == 1
    assert passwords.RevealStore(None).purge_schedule is not passwords.RevealStore(None).purge_schedule
