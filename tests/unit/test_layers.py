"""The project's import graph: no cycle, and no import inside a function without a stated reason.

Read from the source with `ast` (nothing is imported), so a cycle dodged by an import inside a function is
found too: both top-level and function-level imports of project modules are edges. Imports under
`if TYPE_CHECKING:` are types only and never run, so they are not edges.

An import inside a function is allowed when its line (or the line before it) says why: `# lazy: <reason>`.
Libraries that are imported late on purpose for the cold start (docs/benchmarks.md, "Cold import") are
listed once in LAZY_LIBRARIES with that reason instead of on each of their many lines.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "triggers", "activities", "orchestrations", "devhost", "sandbox")
TOP_MODULES = ("function_app",)

# Libraries imported inside functions on purpose, with the reason (docs/benchmarks.md, "Cold import").
LAZY_LIBRARIES = {
    "msgraph": "msgraph's request builders and models: loaded by the primitive that sends them, not at cold start",
    "kiota_serialization_json": "part of msgraph's client stack, loaded with it",
    "kiota_authentication_azure": "part of msgraph's client stack, loaded with it",
    "kiota_http": "part of msgraph's client stack, loaded with it",
    "azure.servicebus": "the AMQP stack: loaded where a message is sent (Service Bus queues only)",
    "azure.identity": "~200 modules (msal, requests, x509): loaded by the first production credential",
    "cryptography": "AES-GCM: loaded by the first seal/unseal, not at cold start",
}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a project module, or a library's dotted name
    line: int
    in_function: bool
    reason: str | None  # the text after "# lazy:" on the line or the line before


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_files() -> dict[str, Path]:
    files = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            files[_module_name(path)] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve_from(importer: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, node.module] if node.module else base)
    else:
        module = node.module or ""
    modules = project_files()
    # `from package import module` imports the module; `from module import name` the module itself.
    targets = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in modules]
    return targets or [module]


def _lazy_reason(lines: list[str], lineno: int) -> str | None:
    for text in (lines[lineno - 1], lines[lineno - 2] if lineno >= 2 else ""):
        if "# lazy:" in text:
            reason = text.split("# lazy:", 1)[1].strip()
            return reason or None
    return None


def _imports_of(name: str, path: Path) -> list[Import]:
    source = path.read_text()
    lines = source.splitlines()
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, in_function)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                targets = _resolve_from(name, path.name == "__init__.py", node)
            for target in targets:
                found.append(Import(name, target, node.lineno, in_function, _lazy_reason(lines, node.lineno)))
            return
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(ast.parse(source, filename=str(path)), in_function=False)
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(imp for name, path in project_files().items() for imp in _imports_of(name, path))


def _edges() -> dict[str, set[str]]:
    """importer -> project modules it runs: the target and the packages it passes through (their __init__)."""
    modules = project_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in all_imports():
        parts = imp.target.split(".")
        for depth in range(1, len(parts) + 1):
            target = ".".join(parts[:depth])
            # A module's own packages ran before it; importing them again is not an edge.
            if target in modules and target != imp.importer and not imp.importer.startswith(target + "."):
                graph[imp.importer].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def _lazy_library(target: str) -> bool:
    return any(target == lib or target.startswith(lib + ".") for lib in LAZY_LIBRARIES)


# Tests and benchmarks are the project's code too: no import inside a function without a reason there either.
OTHER_CODE = ("tests", "benchmarks")


@cache
def other_imports() -> tuple[tuple[Path, Import], ...]:
    return tuple((path, imp) for package in OTHER_CODE for path in sorted((ROOT / package).rglob("*.py"))
                 for imp in _imports_of(_module_name(path), path))


def unexplained_function_imports() -> list[str]:
    found = [(project_files()[imp.importer], imp) for imp in all_imports()] + list(other_imports())
    return [f"{path.relative_to(ROOT)}:{imp.line} imports {imp.target}" for path, imp in found
            if imp.in_function and imp.reason is None and not _lazy_library(imp.target)]


def test_the_project_has_no_import_cycle():
    assert find_cycles(_edges()) == []


def test_every_import_inside_a_function_states_why():
    assert unexplained_function_imports() == []


# The layers: parameter schemas, models and the pure helpers they use -> stores -> domain -> the composition root
# (shared/services.py) -> triggers, activities and the console (shared/console: an entry point like triggers). A
# layer imports only from the layers before it. Every module of shared/ is in one layer: the domain unless named
# below (by its longest prefix), so a new module cannot sit outside the rules.
COMPOSITION_ROOT = "shared.services"
ENTRY_POINTS = ("triggers", "activities", "orchestrations", "function_app", "devhost", "sandbox")
DATA = (  # the first layer: no store, no domain code
    "shared.models", "shared.schemas",
    # the pure languages and helpers models and schemas use, and settings read once
    "shared.api_model", "shared.errors", "shared.ids", "shared.json_limits", "shared.patterns", "shared.durations",
    "shared.ncrontab", "shared.expressions", "shared.templates", "shared.step_report", "shared.validation",
    "shared.settings", "shared.secrets", "shared.log_events", "shared.http_retry", "shared.loop_clients",
    "shared.outbound_guard", "shared.outbound_http", "shared.run_links", "shared.run_metrics", "shared.selftest",
    # query parameters, records and catalogs the stores keep or read
    "shared.alert_listing", "shared.audit_listing", "shared.run_listing", "shared.matching.decision",
    "shared.sources.catalog", "shared.sources.models", "shared.schedules.models", "shared.schedules.due",
    "shared.ingest_credentials", "shared.notifications.destination",
)
STORES = ("shared.store", "shared.storage")
CONSOLE = ("shared.console",)


def layer_of(module: str) -> str | None:
    """"data", "store", "domain", "root" or "entry"; None outside the project's shared code and entry points."""
    if _under(module, ENTRY_POINTS) or _under(module, CONSOLE):
        return "entry"
    if not _under(module, ("shared",)):
        return None
    if module == COMPOSITION_ROOT:
        return "root"
    if module in namespace_packages():  # only a docstring: importing a module of it runs nothing of the layer
        return "data"
    named = [(len(p), layer) for layer, prefixes in (("data", DATA), ("store", STORES)) for p in prefixes
             if _under(module, (p,))]
    return max(named)[1] if named else ("data" if module == "shared" else "domain")


@cache
def namespace_packages() -> frozenset[str]:
    """Packages whose __init__ imports nothing of the project."""
    importing = {imp.importer for imp in all_imports() if _is_project(imp.target)}
    return frozenset(name for name, path in project_files().items()
                     if path.name == "__init__.py" and name not in importing)


def _is_project(target: str) -> bool:
    return target in project_files() or any(target.startswith(m + ".") for m in PACKAGES)


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            why = None
            importer_layer, target_layer = layer_of(importer), layer_of(target)
            if target == COMPOSITION_ROOT and not _under(importer, ("triggers", "activities", "shared.console")):
                why = "the composition root is for triggers and activities; pass what you need in"
            elif _under(importer, ("shared",)) and _under(target, ENTRY_POINTS):
                why = "shared code does not know the Functions app, the devhost or the sandbox"
            elif importer_layer == "store" and target_layer == "domain":
                why = "a store keeps records; the domain uses stores, not the other way round"
            elif importer_layer == "data" and target_layer in ("store", "domain"):
                why = "a model, a parameter schema or a pure helper is data: it imports no store and no domain code"
            if why:
                found.append(f"{importer} imports {target}: {why}")
    return found


def test_each_layer_imports_only_from_the_layers_before_it():
    assert layer_violations(_edges()) == []


def test_modules_outside_the_named_layers_are_domain_and_held_to_it():
    """A helper the models use may not reach the domain (shared/templates.py once imported the interpreter's fact
    names, so every parameter schema loaded the interpreter), nor may a store load the matching engine."""
    graph = {"shared.templates": {"shared.interpreter.learned", "shared.models.facts"},
             "shared.store.alerts": {"shared.matching.decision", "shared.matching.index"},
             "shared.schemas.alert_writeback": {"shared.graph"}}
    assert [v.split(":")[0] for v in layer_violations(graph)] == [
        "shared.schemas.alert_writeback imports shared.graph", "shared.store.alerts imports shared.matching.index",
        "shared.templates imports shared.interpreter.learned"]
    assert {layer_of(m) for m in ("shared.new_helper", "shared.graph.client_factory")} == {"domain"}
    assert (layer_of("shared.matching"), layer_of("shared.matching.index")) == ("data", "domain")  # a namespace


def test_layer_violations_are_found():
    graph = {"shared.passwords": {"shared.services"}, "shared.store.alerts": {"shared.alert_recording"},
             "shared.models.run": {"shared.store.tables"}, "shared.health": {"triggers.api"},
             "triggers.runs": {"shared.services"}, "shared.services": {"shared.store.alerts"},
             "shared.schemas.flow": {"shared.primitives.catalog"}}
    assert [v.split(":")[0] for v in layer_violations(graph)] == [
        "shared.health imports triggers.api", "shared.models.run imports shared.store.tables",
        "shared.passwords imports shared.services", "shared.schemas.flow imports shared.primitives.catalog",
        "shared.store.alerts imports shared.alert_recording"]


# The checks themselves, on small graphs and sources, so that a broken check cannot pass silently.


def test_find_cycles_finds_a_cycle_and_only_the_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_imports_are_read_at_top_level_in_functions_and_not_under_type_checking(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import shared.settings\n"
        "if TYPE_CHECKING:\n"
        "    import shared.services\n"
        "def f():\n"
        "    from shared import services\n"
        "    import msgraph  # lazy: cold start\n"
        "    # lazy: the line before counts too\n"
        "    import json\n"
    )
    # The module list stays the repository's (cached): `from shared import services` resolves against it.
    found = {(imp.target, imp.in_function, imp.reason) for imp in _imports_of("mod", source)}
    assert found == {
        ("typing", False, None),
        ("shared.settings", False, None),
        ("shared.services", True, None),
        ("msgraph", True, "cold start"),
        ("json", True, "the line before counts too"),
    }


# The Functions host's libraries belong to the entry points: shared code (the interpreter above all, whose tests
# drive a run with no Durable context: tests/interpreter) runs and is tested without them.
HOST_LIBRARIES = ("azure.functions", "azure.durable_functions")


def host_library_imports(imports: tuple[Import, ...] | list[Import]) -> list[str]:
    return [f"{imp.importer}:{imp.line} imports {imp.target}" for imp in imports
            if _under(imp.importer, ("shared", "tests.interpreter")) and _under(imp.target, HOST_LIBRARIES)]


def test_shared_code_and_the_interpreters_tests_need_no_functions_host():
    interpreter_tests = [imp for path in sorted((ROOT / "tests" / "interpreter").glob("*.py"))
                         for imp in _imports_of(_module_name(path), path)]
    assert host_library_imports([*all_imports(), *interpreter_tests]) == []
    assert any(imp.importer.startswith("tests.interpreter") and imp.target == "shared.interpreter.machine"
               for imp in interpreter_tests)  # the interpreter's tests were read


def test_a_host_library_import_is_found():
    imports = [Import("shared.interpreter.machine", "azure.durable_functions", 3, False, None),
               Import("orchestrations.playbook_run", "azure.durable_functions", 3, False, None),
               Import("tests.interpreter.script", "azure.functions", 1, True, "lazy")]
    assert host_library_imports(imports) == ["shared.interpreter.machine:3 imports azure.durable_functions",
                                             "tests.interpreter.script:1 imports azure.functions"]
