"""Console test fixtures: the API as the local principal (to set up playbooks and alerts), Contoso registered."""

from tests.e2e.conftest import api  # noqa: F401 (fixture)
