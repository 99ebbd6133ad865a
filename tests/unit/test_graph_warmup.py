"""The msgraph warm-up loads every model it lists (a wrong name fails here, not silently at start), then hands its
thread to what follows start-up (function_app: freezing the start-up heap)."""

import importlib
import logging
import threading

import pytest

from shared.graph import warmup


def test_every_listed_model_exists_and_warms(monkeypatch: pytest.MonkeyPatch):
    warmed = []
    for module, name in warmup.MODELS:
        model = getattr(importlib.import_module(module), name)
        original = model.get_field_deserializers

        def spy(self, _original=original, _name=name):
            warmed.append(_name)
            return _original(self)

        monkeypatch.setattr(model, "get_field_deserializers", spy)
    assert warmup.warm_up() > 0
    assert warmed == [name for _, name in warmup.MODELS]  # every model's deserializers loaded, in order


def test_the_warm_up_runs_on_a_daemon_thread(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    calls = []
    monkeypatch.setattr(warmup, "warm_up", lambda: calls.append("warmed") or 0.5)
    with caplog.at_level(logging.INFO, logger="riposte.graph"):
        thread = warmup.start()
        assert thread.daemon
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert calls == ["warmed"]
    assert [r.getMessage() for r in caplog.records] == ["msgraph models warmed in 0.50 s"]


def test_a_failing_warm_up_is_logged_and_not_fatal(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture):
    def broken() -> float:
        raise ImportError("no module named msgraph.generated.models.nothing")

    monkeypatch.setattr(warmup, "warm_up", broken)
    with caplog.at_level(logging.INFO, logger="riposte.graph"):
        thread = warmup.start()
        thread.join(timeout=60)
    assert not thread.is_alive()
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.getMessage() == "warming msgraph models failed"
    assert record.exc_info and record.exc_info[0] is ImportError


def test_what_follows_the_warm_up_runs_on_its_thread_once_it_is_done(monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(warmup, "warm_up", lambda: calls.append("warmed") or 0.5)
    thread = warmup.start(then=lambda: calls.append(threading.current_thread().name))
    thread.join(timeout=60)
    assert calls == ["warmed", "msgraph-warmup"]


def test_what_follows_a_failed_warm_up_still_runs(monkeypatch: pytest.MonkeyPatch):
    calls = []

    def broken() -> float:
        raise ImportError("no module named msgraph.generated.models.nothing")

    monkeypatch.setattr(warmup, "warm_up", broken)
    warmup.start(then=lambda: calls.append("then")).join(timeout=60)
    assert calls == ["then"]
