from tests.pollers.conftest import control, graphs, states, store, table_prefix, tenant  # noqa: F401 - the pollers' fixtures
