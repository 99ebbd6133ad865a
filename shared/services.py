"""Process-wide services, built once per process from settings (thin functions call these)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from shared import playbook_edits
from shared.approvals import signed_in
from shared.approvals.store import ApprovalStore
from shared.arm import ArmAccess
from shared.directory_admin import DirectoryAdmin
from shared.graph import GraphClientFactory
from shared.graph.settings import GraphSettings, load_graph_settings
from shared.ingest_credential_admin import CredentialAdmin
from shared.matching.snapshot import MatchingCache
from shared.models.tenant import Tenant
from shared.passwords import PurgeSchedule, RevealStore
from shared.playbook_templates.catalog import TemplateCatalog
from shared.primitives.context import StepDependencies
from shared.settings import get_settings
from shared.storage import create_async_table_service, get_table_service
from shared.store.alerts import AlertStore
from shared.store.async_tables import AsyncTables
from shared.store.audit import AuditLog
from shared.store.directory import DirectoryStore, NotFound
from shared.store.ingest_credentials import IngestCredentialStore
from shared.store.playbooks import PlaybookStore
from shared.store.poll_states import PollStates
from shared.store.sources import SourceStore
from shared.store.tables import Tables
from shared.subject_lookup import SubjectLookup


@lru_cache(maxsize=1)
def tables() -> Tables:
    return Tables(get_table_service(), prefix=get_settings().table_prefix)


@lru_cache(maxsize=1)
def async_tables() -> AsyncTables:
    """Async table clients (per event loop) for intake's hot path: shared/store/async_tables.py."""
    settings = get_settings()
    return AsyncTables(lambda: create_async_table_service(settings), prefix=settings.table_prefix)


@lru_cache(maxsize=1)
def matching_cache() -> MatchingCache:
    """The playbook index and tenant lookups, one per process: alert delivery and the console's simulation."""
    return MatchingCache(tables(), async_tables())


@lru_cache(maxsize=1)
def subject_lookup() -> SubjectLookup:
    """Graph reads for subject conditions (trigger.userTypes / devicePlatforms), with the process's short cache."""
    return SubjectLookup(graph_factory())


@lru_cache(maxsize=1)
def playbook_templates() -> TemplateCatalog:
    """The built-in playbook templates (data files read once per process)."""
    return TemplateCatalog.load()


def playbooks() -> PlaybookStore:
    return PlaybookStore(tables())


def directory() -> DirectoryStore:
    return DirectoryStore(tables())


def directory_admin() -> DirectoryAdmin:
    """Audited changes of tenants and groups (the API's and the console's)."""
    return DirectoryAdmin(directory(), playbooks(), sources(), audit())


def sources() -> SourceStore:
    return SourceStore(tables())


def poll_states() -> PollStates:
    """The pollers' side of the Sources table, async (shared/store/poll_states.py)."""
    return PollStates(async_tables())


def alerts() -> AlertStore:
    return AlertStore(tables())


def audit() -> AuditLog:
    return AuditLog(tables())


def ingest_credentials() -> CredentialAdmin:
    """Per-tenant ingestion credentials: their store, the audit log, the deployment key (read when needed)."""
    return CredentialAdmin(IngestCredentialStore(tables()), audit())


# The process's one purge schedule of expired password reveals (a store is built per use).
_REVEAL_PURGES = PurgeSchedule()


def reveal_store() -> RevealStore:
    """The password vault: temporary passwords sealed for their one reveal (shared/passwords.py)."""
    return RevealStore(tables(), async_tables(), purge_schedule=_REVEAL_PURGES)


def approvals() -> ApprovalStore:
    return ApprovalStore(tables())


@lru_cache(maxsize=1)
def approval_deps() -> signed_in.Deps:
    """What a signed-in approver's decision uses (the API and the console's inbox)."""
    return signed_in.Deps(approvals(), alerts(), tables(), audit())


def playbook_edit_deps() -> playbook_edits.Deps:
    """What saving a playbook change uses (the API and the console's editor)."""
    settings = get_settings()
    return playbook_edits.Deps(playbooks(), directory(), audit(), settings.http_request_hosts,
                               settings.outbound_private_hosts)


def graph_factory() -> GraphClientFactory:
    """The process's Graph client factory (one per Graph settings, read from the environment as before).

    One, not one per call: the factory keeps, per event loop, the shared HTTP client and connection pools and
    each tenant's credential with its token cache. A new factory per step built all of that again (an httpx
    client, 32 pools, new connections) and, in Azure, a new managed-identity assertion and a new Entra ID token
    for every step of every run (docs/benchmarks.md, "third pass")."""
    return _graph_factory(load_graph_settings())


@lru_cache(maxsize=4)
def _graph_factory(settings: GraphSettings) -> GraphClientFactory:
    return GraphClientFactory(settings)


@lru_cache(maxsize=1)
def arm_access() -> ArmAccess:
    """Azure Resource Manager with the app's managed identity, one per process (its credential per loop)."""
    return ArmAccess.from_settings(get_settings())


async def find_tenant(tenant_id: str) -> Tenant | None:
    try:
        return await asyncio.to_thread(directory().get_tenant, tenant_id)
    except NotFound:
        return None


def step_dependencies() -> StepDependencies:
    return StepDependencies(graph=graph_factory(), settings=get_settings(), tenants=find_tenant,
                            passwords=reveal_store(), audit=audit(), arm=arm_access())
