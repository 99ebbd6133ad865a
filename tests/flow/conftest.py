"""Flow tests that read Graph facts share the primitives' sandbox and Graph-client fixtures."""

from tests.primitives.conftest import deps, server  # noqa: F401 (fixtures)
