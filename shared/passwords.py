"""Temporary passwords set by `force_password_reset` (and the `disable_user_and_revoke` containment preset),
and their one-time reveal to a technician.

The plaintext exists in memory only: it is generated here, sent to Graph in the PATCH body, and sealed
(AES-256-GCM, key from the secrets seam: `password-reveal-key`, 32 bytes, base64) into one row of the
`PasswordReveals` table for at most an hour. It is never in a step result, the run record, the audit
log, Durable history or a log line. A technician with SECURITY_MANAGE reveals it once with
`POST /api/runs/{runId}/steps/{index}/password`: the row is claimed (conditional on its ETag, so two
concurrent reveals cannot both win), deleted, then decrypted; a second reveal or one after the hour
gets 410. See docs/password-reset.md.

A step that resets passwords calls `seal_new_passwords` first (generate, seal, store: nothing is set
when that fails), sets the passwords, then `PendingPasswords.record` with the users whose reset Graph
accepted: it trims the stored row to them and gives the `RESULT_FIELD` entry of the step result.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

from shared.models.run import Run, StepResult, StepStatus
from shared.secrets import MissingSecretError, load_key, new_key
from shared.store.tables import Tables

if TYPE_CHECKING:
    from shared.store.async_tables import AsyncTables

REVEAL_KEY_SECRET = "password-reveal-key"  # noqa: S105 (the secret's name, not its value)
REVEALS_TABLE = "PasswordReveals"
REVEAL_TTL = timedelta(hours=1)
# How often a new reset purges expired rows, at most (per process). The purge is a query of the whole table (an
# hour of runs' rows): once per reset, its cost grew with the run rate. An expired row is refused by `take`
# whenever it is asked for; the purge only keeps it from lingering, so a minute more is of no consequence.
PURGE_EVERY_SECONDS = 60.0
ACTION_TYPE = "force_password_reset"
# Every primitive whose step may set passwords (and so may carry a reveal ticket).
PASSWORD_ACTION_TYPES = (ACTION_TYPE, "disable_user_and_revoke")
RESULT_FIELD = "passwordReveal"  # where the step result says how to reveal (never the password)
REVEAL_PATH = "/api/runs/{runId}/steps/{stepIndex}/password"

log = logging.getLogger("riposte.steps")

PASSWORD_LENGTH = 20
# Characters Entra ID accepts in cloud passwords, minus look-alikes (l/1/I, O/0) and characters that
# are awkward to dictate or type into a shell or URL; 66 symbols, so ~120 bits for 20 characters.
_LOWER = "abcdefghijkmnopqrstuvwxyz"
_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DIGITS = "23456789"
_SYMBOLS = "!#$%*+-=?@^_"
_ALPHABET = _LOWER + _UPPER + _DIGITS + _SYMBOLS


# --- generating -----------------------------------------------------------------------------------
def meets_entra_complexity(password: str, user_principal_name: str | None = None) -> bool:
    """Entra ID's cloud password rule: 8-256 characters, three of lower/upper/digit/symbol, and not
    containing the user's alias (the UPN's part before '@')."""
    if not 8 <= len(password) <= 256:
        return False
    classes = (any(c.islower() for c in password), any(c.isupper() for c in password),
               any(c.isdigit() for c in password), any(not c.isalnum() for c in password))
    alias = (user_principal_name or "").split("@", 1)[0].lower()
    return sum(classes) >= 3 and not (alias and alias in password.lower())


def generate_password(user_principal_name: str | None = None, length: int = PASSWORD_LENGTH) -> str:
    """A random password (secrets module) with all four character classes, meeting Entra's rules."""
    if not 16 <= length <= 256:
        raise ValueError("length must be between 16 and 256")
    while True:
        chars = [secrets.choice(_LOWER), secrets.choice(_UPPER), secrets.choice(_DIGITS), secrets.choice(_SYMBOLS)]
        chars += [secrets.choice(_ALPHABET) for _ in range(length - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        password = "".join(chars)
        if meets_entra_complexity(password, user_principal_name):
            return password


# --- sealing --------------------------------------------------------------------------------------
class RevealKeyError(RuntimeError):
    """The reveal key is missing or malformed (the message names the setting, never a value)."""


class UnsealError(RuntimeError):
    """The sealed passwords cannot be decrypted (the key changed, or the row was tampered with)."""


def load_reveal_key(env: Mapping[str, str] | None = None) -> bytes:
    try:
        return load_key(REVEAL_KEY_SECRET, env, min_bytes=32, exact=True)  # AES-256
    except (MissingSecretError, ValueError) as exc:
        raise RevealKeyError(str(exc)) from None


def new_reveal_key() -> str:
    """A fresh key, base64, for the `password-reveal-key` secret (`python -m shared.passwords`)."""
    return new_key(32)


def associated_data(run_id: str, ticket: str) -> bytes:
    # Binds the ciphertext to its row: a sealed blob copied into another run's row does not decrypt.
    return f"riposte/password-reveal/v1|{run_id}|{ticket}".encode()


@dataclass(frozen=True)
class Sealed:
    nonce: bytes
    ciphertext: bytes


def seal(key: bytes, entries: list[dict[str, Any]], aad: bytes) -> Sealed:
    # cryptography is imported by the first run that seals or reveals, not by `import function_app`.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    plaintext = json.dumps(entries, separators=(",", ":")).encode()
    return Sealed(nonce, AESGCM(key).encrypt(nonce, plaintext, aad))


def unseal(key: bytes, sealed: Sealed, aad: bytes) -> list[dict[str, Any]]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return json.loads(AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, aad))
    except (InvalidTag, ValueError) as exc:
        raise UnsealError("the sealed passwords cannot be decrypted") from exc


def new_ticket() -> str:
    return uuid.uuid4().hex


# --- storing --------------------------------------------------------------------------------------
class TakeStatus(StrEnum):
    TAKEN = "taken"
    GONE = "gone"  # revealed already (or never stored, or removed)
    EXPIRED = "expired"


@dataclass(frozen=True)
class Taken:
    status: TakeStatus
    sealed: Sealed | None = None
    expires_at: datetime | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class RevealStore:
    """Sealed passwords, one row per step: PartitionKey = run id, RowKey = the step's ticket.

    A step seals its passwords with `put_async`: with the process's async tables, one lean create from the event
    loop (shared/store/table_requests.py: the same request as `put`'s, without the sync SDK's pipeline and a
    worker thread); otherwise `put` on a worker thread."""

    _async_tables: AsyncTables | None = None  # class default: a store built without them puts on a thread

    def __init__(self, tables: Tables, async_tables: AsyncTables | None = None,
                 purge_schedule: PurgeSchedule | None = None):
        self._tables = tables
        self._async_tables = async_tables
        # When a reset purges expired rows: the process's one schedule (shared/services.py), or this store's own.
        self.purge_schedule = purge_schedule if purge_schedule is not None else PurgeSchedule()

    @property
    def _table(self):
        return self._tables(REVEALS_TABLE)

    def _entity(self, run_id: str, ticket: str, tenant_id: str, sealed: Sealed, expires_at: datetime,
                users: int) -> dict[str, Any]:
        return {"PartitionKey": run_id, "RowKey": ticket, "tenantId": tenant_id, "expiresAt": expires_at,
                "users": users, "nonce": _b64(sealed.nonce), "ciphertext": _b64(sealed.ciphertext)}

    def put(self, run_id: str, ticket: str, tenant_id: str, sealed: Sealed, expires_at: datetime, users: int) -> None:
        self._table.create_entity(self._entity(run_id, ticket, tenant_id, sealed, expires_at, users))

    async def put_async(self, run_id: str, ticket: str, tenant_id: str, sealed: Sealed, expires_at: datetime,
                        users: int) -> None:
        """`put` from the event loop: ResourceExistsError when the ticket's row exists, as `put`."""
        if self._async_tables is None:
            await asyncio.to_thread(self.put, run_id, ticket, tenant_id, sealed, expires_at, users)
            return
        table = await self._async_tables.lean(REVEALS_TABLE)
        await table.create(self._entity(run_id, ticket, tenant_id, sealed, expires_at, users))

    def replace(self, run_id: str, ticket: str, tenant_id: str, sealed: Sealed, expires_at: datetime,
                users: int) -> None:
        self._table.upsert_entity(self._entity(run_id, ticket, tenant_id, sealed, expires_at, users))

    def discard(self, run_id: str, ticket: str) -> None:
        self._table.delete_entity(run_id, ticket)  # no error when it is gone already

    def exists(self, run_id: str, ticket: str) -> bool:
        try:
            self._table.get_entity(run_id, ticket, select=["PartitionKey"])
        except ResourceNotFoundError:
            return False
        return True

    def take(self, run_id: str, ticket: str, now: datetime | None = None) -> Taken:
        """Remove the row and hand back its content, once. Expired rows are removed and not handed back."""
        now = now or datetime.now(UTC)
        try:
            row = self._table.get_entity(run_id, ticket)
        except ResourceNotFoundError:
            return Taken(TakeStatus.GONE)
        try:
            # The claim: only the caller whose ETag still matches wins (delete_entity ignores a missing row,
            # so it cannot decide between two concurrent reveals on its own).
            self._table.update_entity({"PartitionKey": run_id, "RowKey": ticket, "claimedAt": now},
                                      etag=row.metadata["etag"], match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            return Taken(TakeStatus.GONE)
        self._table.delete_entity(run_id, ticket)
        expires_at = row["expiresAt"]
        if expires_at <= now:
            return Taken(TakeStatus.EXPIRED, expires_at=expires_at)
        sealed = Sealed(base64.b64decode(row["nonce"]), base64.b64decode(row["ciphertext"]))
        return Taken(TakeStatus.TAKEN, sealed, expires_at)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete every expired row (called on each new reset, so unrevealed passwords do not linger)."""
        now = now or datetime.now(UTC)
        rows = list(self._table.query_entities("expiresAt lt @now", parameters={"now": now},
                                               select=["PartitionKey", "RowKey"]))
        for row in rows:
            self._table.delete_entity(row["PartitionKey"], row["RowKey"])
        return len(rows)


class PurgeSchedule:
    """When the next reset purges expired reveals: the first one, then once per `every` seconds."""

    def __init__(self, every: float = PURGE_EVERY_SECONDS, clock=time.monotonic):
        self._every, self._clock, self._next = every, clock, None

    def due(self) -> bool:
        now = self._clock()
        if self._next is not None and now < self._next:
            return False
        self._next = now + self._every
        return True



# --- a step that sets passwords ------------------------------------------------------------------
@dataclass(frozen=True)
class NotSealed:
    """Why no password may be set: nothing was generated into the store, so nothing may reach Graph."""

    code: str  # not_configured | reveal_store_unavailable
    message: str


class PendingPasswords:
    """The passwords one step is about to set, already sealed into the reveal store (one row, one ticket).

    Deliberately not a dataclass: no repr, no equality, nothing that could print a password.
    """

    __slots__ = ("_entries", "_key", "_store", "expires_at", "run_id", "step_index", "tenant_id", "ticket")

    def __init__(self, store: RevealStore, key: bytes, run_id: str, tenant_id: str, ticket: str,
                 expires_at: datetime, entries: list[tuple[dict[str, Any], str]], step_index: int | None = None):
        self._store, self._key, self._entries = store, key, entries
        self.run_id, self.tenant_id, self.ticket, self.expires_at = run_id, tenant_id, ticket, expires_at
        self.step_index = step_index

    def __repr__(self) -> str:
        return f"<PendingPasswords ticket={self.ticket} users={len(self._entries)}>"

    def __len__(self) -> int:
        return len(self._entries)

    def password(self, index: int) -> str:
        """The password for the index-th user given to `seal_new_passwords` (goes into Graph's body only)."""
        return self._entries[index][1]

    def _sealed(self, indexes: Sequence[int]) -> Sealed:
        aad = associated_data(self.run_id, self.ticket)
        return seal(self._key, [self._entries[i][0] | {"password": self._entries[i][1]} for i in indexes], aad)

    async def _put(self) -> None:
        await self._store.put_async(self.run_id, self.ticket, self.tenant_id,
                                    self._sealed(range(len(self._entries))), self.expires_at, len(self._entries))

    async def record(self, done: Sequence[int]) -> dict[str, Any] | None:
        """After the writes: keep in the store only the passwords Graph accepted (by index), forget the
        plaintexts, and return what the step result records under RESULT_FIELD (None when none was set)."""
        done = sorted(set(done))
        try:
            if not done:
                await asyncio.to_thread(self._store.discard, self.run_id, self.ticket)
            elif len(done) < len(self._entries):  # reveal also filters on the step result, this is belt and braces
                await asyncio.to_thread(self._store.replace, self.run_id, self.ticket, self.tenant_id,
                                        self._sealed(done), self.expires_at, len(done))
        except Exception:
            log.warning("could not trim the password reveal of run %s", self.run_id, exc_info=True)
        users = [dict(self._entries[i][0]) for i in done]
        self._entries = [(label, "") for label, _ in self._entries]  # the plaintexts are not needed any more
        if not users:
            return None
        return {"ticket": self.ticket, "expiresAt": self.expires_at.isoformat(), "users": users,
                "reveal": "POST " + reveal_path(self.run_id, self.step_index), "onlyOnce": True}


def reveal_path(run_id: str, step_index: int | None) -> str:
    """The reveal endpoint of one step, filled in as far as known (a technician copies it as is)."""
    path = REVEAL_PATH.replace("{runId}", run_id)
    return path if step_index is None else path.replace("{stepIndex}", str(step_index))


async def seal_new_passwords(run_id: str, tenant_id: str, users: Sequence[Mapping[str, Any]],
                             key_loader=load_reveal_key, step_index: int | None = None, *,
                             store: RevealStore | None) -> PendingPasswords | NotSealed:
    """Generate a password per user (`users`: their labels, `{"id", "upn"}`) and seal them all into one
    row of `store` (the step's password vault, `StepDependencies.passwords`) *before* any is set, so no
    password is ever set that a technician could not retrieve. NotSealed (and nothing stored) when the key
    is missing or the store is unavailable."""
    try:
        key = key_loader()
    except RevealKeyError as exc:
        return NotSealed("not_configured", f"{exc}; no password was changed.")
    if store is None:
        return NotSealed("reveal_store_unavailable", "No password vault is configured for this step; no password "
                         "was changed.")
    entries = [(dict(user), generate_password(user.get("upn"))) for user in users]
    try:
        pending = PendingPasswords(store, key, run_id, tenant_id, new_ticket(), datetime.now(UTC) + REVEAL_TTL,
                                   entries, step_index)
        if store.purge_schedule.due():
            try:
                await asyncio.to_thread(store.purge_expired)
            except Exception:  # housekeeping only: never blocks a reset
                log.warning("could not purge expired password reveals", exc_info=True)
        await pending._put()
    except Exception as exc:
        log.warning("password reveal store unavailable for run %s: %s", run_id, type(exc).__name__)
        return NotSealed("reveal_store_unavailable", "The encrypted password could not be stored for the "
                         f"technician ({type(exc).__name__}); no password was changed.")
    return pending


# --- revealing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RevealResult:
    status: int  # HTTP status for the API
    code: str
    message: str
    users: list[dict[str, Any]] | None = None  # with the passwords: only when status == 200
    audit: dict[str, Any] | None = None  # what the audit event records (never a password)


def reveal_ticket(run: Run, step_index: int) -> tuple[str, StepResult] | RevealResult:
    """The step's reveal ticket and the step, or why there is none (404)."""
    step = next((s for s in run.steps if s.index == step_index), None)
    if step is None or step.action_type not in PASSWORD_ACTION_TYPES:
        kinds = " or ".join(PASSWORD_ACTION_TYPES)
        return RevealResult(404, "not_found", f"Run '{run.id}' has no step {step_index} that resets passwords "
                            f"({kinds}).")
    reveal_info = step.result.get(RESULT_FIELD)
    if step.status is StepStatus.SKIPPED or not isinstance(reveal_info, dict) or not reveal_info.get("ticket"):
        detail = step.error.message if step.error else (step.reason or "no password was set")
        return RevealResult(404, "no_password", f"Step {step_index} set no password to reveal ({step.status.value}: "
                            f"{detail}).")
    return str(reveal_info["ticket"]), step


def _was_reset(step: StepResult) -> set[tuple[str | None, str | None]]:
    """The users whose password the step set: every password-resetting primitive records, per user entry,
    `passwordReset: true` only when Graph accepted the new password."""
    users = step.result.get("users")
    return {(u.get("id"), u.get("upn")) for u in users if isinstance(u, dict) and u.get("passwordReset") is True} \
        if isinstance(users, list) else set()


def reveal(run: Run, step_index: int, store: RevealStore, key_loader=load_reveal_key,
           now: datetime | None = None) -> RevealResult:
    """Reveal the passwords a step set, once. 404: no such step or no password; 410: revealed already or
    expired; 503: the reveal key is not configured (nothing is consumed then)."""
    found = reveal_ticket(run, step_index)
    if isinstance(found, RevealResult):
        return found
    ticket, step = found
    reset = _was_reset(step)
    audit = {"alertId": run.alert_id, "stepIndex": step_index, "ticket": ticket,
             "users": [user_id or upn for user_id, upn in sorted(reset, key=str)]}
    try:
        key = key_loader()
    except RevealKeyError as exc:
        return RevealResult(503, "not_configured", f"The password reveal key is not configured: {exc}.",
                            audit=audit | {"outcome": "notConfigured"})
    taken = store.take(run.id, ticket, now)
    if taken.status is TakeStatus.GONE:
        return RevealResult(410, "gone", "This password was revealed already (a password is shown once) or has "
                            "been removed.", audit=audit | {"outcome": "gone"})
    if taken.status is TakeStatus.EXPIRED:
        return RevealResult(410, "expired", f"This password could be revealed until {taken.expires_at.isoformat()}; "
                            "it has been deleted. Reset the password again.", audit=audit | {"outcome": "expired"})
    try:
        sealed_entries = unseal(key, taken.sealed, associated_data(run.id, ticket))
    except UnsealError:
        return RevealResult(410, "undecryptable", "The password cannot be decrypted (the reveal key changed); it "
                            "has been deleted. Reset the password again.", audit=audit | {"outcome": "undecryptable"})
    # Only users whose reset Graph accepted (the row may still name one whose PATCH failed).
    users = [e for e in sealed_entries if (e.get("id"), e.get("upn")) in reset]
    return RevealResult(200, "revealed", "revealed", users=users, audit=audit | {"outcome": "revealed"})


if __name__ == "__main__":  # print a new key for RIPOSTE_SECRET_PASSWORD_REVEAL_KEY
    print(new_reveal_key())
