"""What `import function_app` leaves for later, and that the functions the worker indexes stay the same.

The worker imports function_app, indexes `app.get_functions()` and resolves each function's type hints
before the host can route anything, so the import is on every cold start's critical path
(benchmarks/import_bench.py measures it; docs/benchmarks.md). Heavy libraries and model building wait
for the function that needs them. No timing here: these checks are about structure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path

from tests.devhost.app_index import indexed_functions, user_functions

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("function_index.json")

# Imported by the functions that use them, never by `import function_app`.
DEFERRED = (
    "azure.identity",  # production credentials (with msal and cryptography's x509)
    "msal",
    "cryptography",  # sealing passwords (shared/passwords.py)
    # msgraph's package loads its whole client stack (msgraph-core, kiota-http and the rest: ~130 modules):
    # Graph errors are imported when handled (shared/graph/errors.py), enum values are literals
    # (shared/models/graph_enums.py), the HTTP pipeline is built with a loop's first client
    # (shared/graph/http_pipeline.py)
    "msgraph",
    "msgraph_core",
    "kiota_http",
    "kiota_serialization_json",
)

# A fresh interpreter, as the worker's: the msgraph warm-up thread is kept from starting, since it loads
# models in the background on purpose (shared/graph/warmup.py) and would race the check.
PROBE = """
import json, sys
from shared.graph import warmup
warmup.start = lambda **_: None
import function_app
from shared.api_model import CamelModel

def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)

built = sorted({m.__module__ + "." + m.__qualname__ for m in models(CamelModel) if m.__pydantic_complete__})
print(json.dumps({"loaded": sorted(set(sys.modules) & set(json.loads(sys.argv[1]))),
                  "models": len(list(models(CamelModel))), "built": built}))
"""


def probe_import() -> dict[str, typing.Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(DEFERRED)], cwd=ROOT, capture_output=True,  # noqa: S603
                          text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_leaves_heavy_libraries_and_model_building_for_later():
    found = probe_import()
    assert found["loaded"] == [], "imported by `import function_app`; import them where they are used"
    assert found["models"] > 50  # the probe saw the app's models
    assert found["built"] == [], "built at import: CamelModel defers building (defer_build) until first use"


def test_indexed_functions_are_the_snapshot():
    """Names, triggers, bindings, routes, methods and auth levels, as the worker sends them to the host.
    A deliberate change rewrites the snapshot:
    `python -m tests.devhost.app_index > tests/devhost/function_index.json`, and the diff is reviewed."""
    expected = json.loads(SNAPSHOT.read_text())
    actual = indexed_functions()
    assert sorted(actual) == sorted(expected)
    for name, spec in expected.items():
        assert actual[name] == spec, name


def test_every_function_type_hints_resolve_as_the_worker_resolves_them():
    """The worker calls typing.get_type_hints on each function at load: a hint whose import was deferred
    (a name only under TYPE_CHECKING) would fail the function there, not in the devhost."""
    functions = user_functions()
    assert len(functions) == len(json.loads(SNAPSHOT.read_text()))
    unresolved = {}
    for name, fn in functions.items():
        try:
            typing.get_type_hints(fn)
        except NameError as exc:
            unresolved[name] = str(exc)
    assert unresolved == {}
