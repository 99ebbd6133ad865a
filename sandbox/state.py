"""The sandbox's mutable world: tenants and users, the sent-mail outbox, the call log and faults.

Handlers run on the server's event loop while tests read state from other threads, so every
access goes through a lock and readers get copies.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .faults import FaultRegistry
from .models import TenantSpec, UserSpec
from .seed import demo_tenants
from .tenant_conditions import TenantConditions

if TYPE_CHECKING:
    from .areas import Area

# The call log keeps the newest calls only, so a long bench over 1,000 tenants stays in bounded memory.
CALL_LOG_LIMIT = 20_000


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class UserRecord:
    props: dict[str, Any]  # what Graph can return for the user
    member_of: list[dict[str, Any]]
    has_mailbox: bool
    manager: str | None = None  # a user id or UPN of the same tenant (GET /users/{id}/manager)
    # Sandbox-only facts (Graph never returns passwordProfile); the password itself is never kept.
    force_change_password_next_sign_in: bool = False
    password_resets: int = 0

    @classmethod
    def from_spec(cls, spec: UserSpec) -> UserRecord:
        props = spec.model_dump(exclude={"memberOf", "hasMailbox", "manager"})
        props.setdefault("createdDateTime", utc_now_iso())
        props.setdefault("signInSessionsValidFromDateTime", props["createdDateTime"])
        props.setdefault("lastPasswordChangeDateTime", props["createdDateTime"])
        props.setdefault("mail", None if spec.userType == "Guest" else spec.userPrincipalName)
        has_mailbox = spec.hasMailbox if spec.hasMailbox is not None else spec.userType == "Member"
        return cls(props=props, member_of=copy.deepcopy(spec.memberOf), has_mailbox=has_mailbox,
                   manager=spec.manager)

    @property
    def id(self) -> str:
        return self.props["id"]

    @property
    def upn(self) -> str:
        return self.props["userPrincipalName"]

    def inspection_view(self) -> dict[str, Any]:
        return {
            **copy.deepcopy(self.props),
            "memberOf": copy.deepcopy(self.member_of),
            "_sandbox": {
                "hasMailbox": self.has_mailbox,
                "forceChangePasswordNextSignIn": self.force_change_password_next_sign_in,
                "passwordResets": self.password_resets,
                "manager": self.manager,
            },
        }


@dataclass
class Tenant:
    id: str
    display_name: str
    domain: str
    users: dict[str, UserRecord] = field(default_factory=dict)  # by lower-case id
    # Per-area state (devices, inbox rules, auth methods, ...), keyed by area name: see sandbox/areas.py.
    areas: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: TenantSpec) -> Tenant:
        tenant = cls(id=spec.id.lower(), display_name=spec.displayName, domain=spec.domain)
        for user_spec in spec.users:
            tenant.add_user(UserRecord.from_spec(user_spec))
        return tenant

    def add_user(self, user: UserRecord) -> None:
        if self.find_user(user.id) or self.find_user(user.upn):
            raise ValueError(f"duplicate user {user.upn}")
        self.users[user.id.lower()] = user

    def find_user(self, key: str) -> UserRecord | None:
        """By object id or userPrincipalName, both case-insensitive (as Graph)."""
        wanted = key.lower()
        if wanted in self.users:
            return self.users[wanted]
        return next((u for u in self.users.values() if u.upn.lower() == wanted), None)

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.display_name, "domain": self.domain, "userCount": len(self.users)}


@dataclass
class CallRecord:
    seq: int
    timestamp: str
    method: str
    path: str
    query: dict[str, str]
    tenant_id: str | None
    app_id: str | None
    request_id: str
    body: Any  # redacted
    batched: bool = False
    batch_item_id: str | None = None
    parent_request_id: str | None = None
    status: int | None = None  # None while the request is still running
    fault_id: str | None = None
    duration_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "timestamp": self.timestamp,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "tenantId": self.tenant_id,
            "appId": self.app_id,
            "requestId": self.request_id,
            "status": self.status,
            "batched": self.batched,
            "batchItemId": self.batch_item_id,
            "parentRequestId": self.parent_request_id,
            "faultId": self.fault_id,
            "durationMs": self.duration_ms,
            "body": copy.deepcopy(self.body),
        }


class CallLog:
    """Graph calls in arrival order (a batch first, then its inner requests as they run), the newest
    ``limit`` of them; ``seq`` keeps counting, so a gap in it shows that older calls were dropped."""

    def __init__(self, limit: int = CALL_LOG_LIMIT) -> None:
        self._lock = threading.Lock()
        self._records: deque[CallRecord] = deque(maxlen=limit)
        self._seq = 0

    def begin(self, **fields: Any) -> CallRecord:
        with self._lock:
            self._seq += 1
            record = CallRecord(seq=self._seq, timestamp=utc_now_iso(), **fields)
            self._records.append(record)
            return record

    def finish(self, record: CallRecord, status: int, duration_ms: float, fault_id: str | None = None) -> None:
        with self._lock:
            record.status = status
            record.duration_ms = round(duration_ms, 3)
            record.fault_id = fault_id

    def list(self, tenant_id: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """``since`` is a sequence number (calls after it) or an ISO-8601 timestamp."""
        with self._lock:
            records = list(self._records)
            out = [r.to_json() for r in records if tenant_id is None or r.tenant_id == tenant_id.lower()]
        if since:
            if since.isdigit():
                out = [r for r in out if r["seq"] > int(since)]
            else:
                cutoff = datetime.fromisoformat(since.replace("Z", "+00:00"))
                out = [r for r in out if datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) > cutoff]
        return out

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


SeedFactory = Callable[[], Iterable[TenantSpec]]


class SandboxState:
    def __init__(self, seed: SeedFactory | None = None, *, areas: Sequence[Area]) -> None:
        """`areas` (sandbox/areas.py's AREAS) seed each tenant and hold the state that is not per tenant; they
        are given, not imported, because each area's routes read this state."""
        self._seed = seed or demo_tenants
        self._areas = tuple(areas)
        self.lock = threading.RLock()  # guards tenants and outbox
        self.calls = CallLog()
        self.faults = FaultRegistry()
        self.conditions = TenantConditions()  # throttled tenants, revoked consent
        self.tenants: dict[str, Tenant] = {}
        self.outbox: list[dict[str, Any]] = []
        # State of services that are not per tenant (PSA systems, chat webhooks), keyed by area name.
        self.services: dict[str, Any] = {}
        self.latency_ms = 0
        self.reset()

    def reset(self) -> None:
        """Back to the seed: tenants rebuilt, calls, outbox, faults and latency cleared."""
        tenants = [Tenant.from_spec(spec) for spec in self._seed()]
        services: dict[str, Any] = {}
        for area in self._areas:
            for tenant in tenants:
                if area.seed_tenant is not None:
                    area.seed_tenant(tenant)
            if area.new_service_state is not None:
                services[area.name] = area.new_service_state()
        with self.lock:
            self.tenants = {t.id: t for t in tenants}
            self.outbox = []
            self.services = services
            self.latency_ms = 0
        self.calls.clear()
        self.faults.clear()
        self.conditions.clear()

    def tenant(self, tenant_id: str) -> Tenant | None:
        with self.lock:
            return self.tenants.get(tenant_id.lower())

    def add_tenant(self, spec: TenantSpec) -> Tenant:
        tenant = Tenant.from_spec(spec)
        with self.lock:
            if tenant.id in self.tenants:
                raise ValueError(f"tenant {tenant.id} already exists")
            self.tenants[tenant.id] = tenant
        return tenant

    def user_view(self, tenant_id: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            tenant = self.tenants.get(tenant_id.lower())
            user = tenant.find_user(key) if tenant else None
            return user.inspection_view() if user else None

    def record_mail(self, message: dict[str, Any]) -> dict[str, Any]:
        entry = {"id": str(uuid.uuid4()), "receivedAt": utc_now_iso(), **message}
        with self.lock:
            self.outbox.append(entry)
        return copy.deepcopy(entry)

    def list_outbox(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(m) for m in self.outbox if tenant_id is None or m["tenantId"] == tenant_id.lower()
            ]
