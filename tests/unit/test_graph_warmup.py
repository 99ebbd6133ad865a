"""The msgraph warm-up loads every model it lists (a wrong name fails here, not silently at start)."""

import importlib

from shared.graph import warmup


def test_every_listed_model_exists_and_warms():
    for module, name in warmup.MODELS:
        assert hasattr(importlib.import_module(module), name), (module, name)
    assert warmup.warm_up() >= 0


def test_the_warm_up_runs_on_a_daemon_thread():
    thread = warmup.start()
    assert thread.daemon
    thread.join(timeout=60)
    assert not thread.is_alive()
