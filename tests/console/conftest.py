"""Console test fixtures: the API as the local principal (to set up playbooks and alerts), Contoso registered."""

from __future__ import annotations

import httpx
import pytest

from tests.api.helpers import client
from tests.e2e.test_bec_flow import CONTOSO


@pytest.fixture
def api(app_devhost, sandbox_server):
    """The API as the local principal (every role), Contoso registered; the sandbox is reset after."""
    with client(app_devhost) as c:
        if c.get(f"/tenants/{CONTOSO}").status_code == 404:
            c.post("/tenants", json={"id": CONTOSO, "name": "Contoso Demo"})
        yield c
    httpx.post(f"{sandbox_server.base_url}/_sandbox/reset")
