"""The approval tests' store: Table Storage on the session's Azurite, under the prefix the devhost app uses."""

from __future__ import annotations

import pytest
from azure.data.tables import TableServiceClient

from shared.approvals.store import ApprovalStore
from shared.store.audit import AuditLog
from shared.store.tables import Tables
from tests.conftest import start_devhost


@pytest.fixture
def tables(azurite_connection_string) -> Tables:
    # "test": the prefix tests/conftest.py gives the in-process devhost, so the app sees what a test stores.
    return Tables(TableServiceClient.from_connection_string(azurite_connection_string), prefix="test")


@pytest.fixture
def store(tables) -> ApprovalStore:
    return ApprovalStore(tables)


@pytest.fixture
def audit(tables) -> AuditLog:
    return AuditLog(tables)


@pytest.fixture(scope="session")
def gate_devhost(loop_thread, app_devhost):
    """tests/approvals/gate_app.py (the approval routes and a probe orchestration) on its own devhost, with
    app_devhost's settings and storage."""
    host = start_devhost(loop_thread, "tests.approvals.gate_app", {})
    yield host
    loop_thread.run(host.stop())
