from tests.pollers.conftest import control, graphs, store, tenant  # noqa: F401 - the pollers' fixtures
