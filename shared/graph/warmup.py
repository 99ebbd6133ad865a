"""Warm msgraph-sdk's models in the background when the app starts.

msgraph-sdk imports the model classes a response may contain the first time it deserializes one
(`get_field_deserializers`): a managedDevice or user pulls in about a thousand dataclasses, ~1.5-2 s
of one core. Paid on the first alert of a process, that delays the first containment by seconds
(docs/benchmarks.md, approval gates). Warming on a daemon thread at start moves the cost to idle time
without delaying start-up; imports are thread-safe, so a request that arrives first just waits for
the modules it needs.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("riposte.graph")

# The models Riposte reads from Graph responses (module, class).
MODELS = (
    ("msgraph.generated.models.user", "User"),
    ("msgraph.generated.models.managed_device", "ManagedDevice"),
    ("msgraph.generated.models.risky_user", "RiskyUser"),
    ("msgraph.generated.models.directory_role", "DirectoryRole"),
    ("msgraph.generated.models.message_rule", "MessageRule"),
    ("msgraph.generated.models.country_named_location", "CountryNamedLocation"),
    ("msgraph.generated.models.authentication_method", "AuthenticationMethod"),
    ("msgraph.generated.models.o_data_errors.o_data_error", "ODataError"),
)


def warm_up() -> float:
    """Load every model's deserializers (and so the modules they import); the seconds it took."""
    started = time.perf_counter()
    for module, name in MODELS:
        getattr(importlib.import_module(module), name)().get_field_deserializers()
    return time.perf_counter() - started


def _run(then: Callable[[], object] | None) -> None:
    try:
        log.info("msgraph models warmed in %.2f s", warm_up())
    except Exception:  # never fatal: the models then load on first use, as without the warm-up
        log.exception("warming msgraph models failed")
    if then is not None:
        then()


def start(then: Callable[[], object] | None = None) -> threading.Thread:
    """Warm on a daemon thread, then call `then` there (start-up is over: function_app freezes its heap)."""
    thread = threading.Thread(target=_run, args=(then,), name="msgraph-warmup", daemon=True)
    thread.start()
    return thread
