"""Cold import of `function_app`: what the Functions worker pays before it can index the app.

Method: the app's code (function_app.py and its packages, without `__pycache__`, as a package made without
the prepackage hook holds them) is copied to a temporary folder, and IMPORT_RUNS (default 15)
fresh interpreters run `import function_app` there, one after another, in these modes:
- as deployed: with PYTHONDONTWRITEBYTECODE=1, so the app's modules are compiled from source on every
  import, as in a package without bytecode; the installed libraries use their installed .pyc;
- bytecode cached: the app's .pyc written by a first, untimed run and used by the timed ones.
Each child reports the import's wall time (`time.perf_counter()` around the import statement), the CPU
time of the importing thread (`time.thread_time()`: the msgraph warm-up thread that function_app starts is
not counted; on a busy machine this figure moves less than wall time) and how many modules it added.
The parent also times each whole process (interpreter start, import, exit), as `time python -c "import
function_app"` would. Figures are medians (min-max). Issue 12's target: ≤ 0.8 s import wall as deployed,
on 2 quiet cores.

A third mode, *bytecode shipped*, is the package the prepackage hook makes (infra/hooks/compile_bytecode.py):
the app's hash-checked bytecode in `__pycache__`, then every source's mtime moved (a package does not keep
them) and the folder made read-only, imported with PYTHONDONTWRITEBYTECODE=1. Each child also counts the app
modules it compiled from source (`SourceLoader.source_to_code` calls under the app's folder): about 170 as
deployed without bytecode, 0 with it. The modes alternate run by run, so a machine that gets busier or
quieter moves them alike. `--runs` (or IMPORT_RUNS) sets the runs per mode.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ("function_app.py", "host.json", "shared", "triggers", "activities", "orchestrations")
RUNS = int(os.environ.get("IMPORT_RUNS", "15"))

CHILD = """
import json, os, sys, time
from importlib import _bootstrap_external as ext
app, compiled, source_to_code = os.getcwd(), [], ext.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    if str(path).startswith(app):
        compiled.append(path)
    return source_to_code(self, data, path, *args, **kwargs)
ext.SourceLoader.source_to_code = counting
n = len(sys.modules)
wall, cpu = time.perf_counter(), time.thread_time()
import function_app
wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
print(json.dumps({"wall": wall, "cpu": cpu, "modules": len(sys.modules) - n, "compiled": len(compiled)}))
"""


def copy_app(target: Path) -> None:
    for name in APP:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target / name)


def _compile_bytecode():
    """infra/hooks/compile_bytecode.py (infra/ is not a package)."""
    spec = importlib.util.spec_from_file_location("compile_bytecode", ROOT / "infra" / "hooks" / "compile_bytecode.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ship_bytecode(app: Path) -> None:
    """The package as the prepackage hook makes it, mounted read-only with sources dated differently."""
    if not _compile_bytecode().compile_app(app):
        raise RuntimeError("compileall failed")
    moved = time.time() - 86_400
    for path in app.rglob("*.py"):
        os.utime(path, (moved, moved))
    set_writable(app, False)


def set_writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def one_import(app: Path, write_bytecode: bool) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=app, env=env, capture_output=True, text=True,  # noqa: S603
                          check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures | {"process": time.perf_counter() - started}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}-{max(values):.3f})"


def report(title: str, runs: list[dict[str, float]]) -> None:
    print(f"  {title}")
    print(f"    import wall     {summary([r['wall'] for r in runs])}")
    print(f"    import CPU      {summary([r['cpu'] for r in runs])}")
    print(f"    whole process   {summary([r['process'] for r in runs])}")
    print(f"    modules loaded  {statistics.median(r['modules'] for r in runs):.0f}")
    print(f"    app modules compiled from source  {statistics.median(r['compiled'] for r in runs):.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="fresh interpreters per mode (IMPORT_RUNS, default 15)")
    runs = parser.parse_args(argv).runs
    print(f"cold import of function_app: {runs} fresh interpreters per mode, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="riposte-import-") as folder:
        deployed, shipped, cached = (Path(folder) / name for name in ("deployed", "shipped", "cached"))
        for app in (deployed, shipped, cached):
            app.mkdir()
            copy_app(app)
        ship_bytecode(shipped)
        one_import(cached, write_bytecode=True)  # writes the app's .pyc; not timed
        modes = {"as deployed without bytecode (app compiled from source)": (deployed, False),
                 "bytecode shipped (hash-checked, read-only, sources re-dated)": (shipped, False),
                 "bytecode cached": (cached, True)}
        figures: dict[str, list[dict[str, float]]] = {title: [] for title in modes}
        try:
            for n in range(runs):  # alternating: every mode once per round, the order rotating
                titles = list(modes)[n % 3:] + list(modes)[:n % 3]
                for title in titles:
                    app, write = modes[title]
                    figures[title].append(one_import(app, write_bytecode=write))
        finally:
            set_writable(shipped, True)  # so the temporary folder can be removed
        for title, runs_of_mode in figures.items():
            report(title, runs_of_mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
