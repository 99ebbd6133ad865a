"""End-to-end fixtures: the API of the in-process devhost, with the sandbox tenant registered."""

from __future__ import annotations

import pytest

from tests.api.helpers import contoso_api


@pytest.fixture
def api(app_devhost, sandbox_server):
    """The API as the local principal (every role), Contoso registered; the sandbox is reset after."""
    with contoso_api(app_devhost, sandbox_server) as c:
        yield c
