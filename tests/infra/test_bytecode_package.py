"""The deployment package carries the app's hash-checked bytecode, so a cold start on the read-only package does
not compile the app from source (infra/hooks/compile_bytecode.py, docs/benchmarks.md "Cold import")."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks import import_bench
from tests.infra import ROOT

AZURE_YAML = yaml.safe_load((ROOT / "azure.yaml").read_text())
compile_bytecode = import_bench._compile_bytecode()


def _ignored(name: str) -> bool:
    patterns = [line.strip() for line in (ROOT / ".funcignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    return any(fnmatch.fnmatch(name, p.rstrip("/")) or fnmatch.fnmatch(name + "/", p) for p in patterns)


def test_azd_compiles_the_app_before_packaging_the_service():
    hook = AZURE_YAML["services"]["api"]["hooks"]["prepackage"]["posix"]
    assert hook["shell"] == "sh" and hook["continueOnError"] is False
    script = (ROOT / hook["run"]).read_text()
    assert "infra/hooks/compile_bytecode.py" in script and "(3, 11)" in script


def test_the_package_keeps_pycache_and_every_packaged_module_is_compiled():
    assert not _ignored("__pycache__") and not _ignored("x.cpython-311.pyc")
    packaged = {p.name for p in ROOT.iterdir() if not _ignored(p.name) and not p.name.startswith(".")
                and (p.suffix == ".py" or (p.is_dir() and any(p.rglob("*.py"))))}
    assert packaged == set(compile_bytecode.APP_SOURCES)
    assert set(import_bench.APP) >= packaged  # the bench measures what is packaged


def test_the_runtime_version_is_the_one_bytecode_is_compiled_for():
    bicep = (ROOT / "infra" / "app" / "function-app.bicep").read_text()
    assert "version: '{}.{}'".format(*compile_bytecode.RUNTIME) in bicep


def _compiled_at_import(app: Path) -> int:
    return int(import_bench.one_import(app, write_bytecode=False)["compiled"])


def test_shipped_bytecode_is_used_on_a_read_only_package_with_other_mtimes(tmp_path):
    bare, shipped = tmp_path / "bare", tmp_path / "shipped"
    for app in (bare, shipped):
        app.mkdir()
        import_bench.copy_app(app)
    import_bench.ship_bytecode(shipped)
    try:
        assert _compiled_at_import(bare) > 100  # without bytecode, every app module is compiled at each start
        assert _compiled_at_import(shipped) == 0
    finally:
        import_bench.set_writable(shipped, True)


def test_a_changed_source_is_not_run_from_its_stale_bytecode(tmp_path):
    import_bench.copy_app(tmp_path)
    assert compile_bytecode.compile_app(tmp_path)
    health = tmp_path / "triggers" / "health.py"
    health.write_text(health.read_text() + "\nCHANGED_AFTER_COMPILE = True\n")
    done = subprocess.run([sys.executable, "-B", "-c", "import triggers.health as h; print(h.CHANGED_AFTER_COMPILE)"],
                          cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
