"""Cold import of `function_app`: what the Functions worker pays before it can index the app.

Method: the app's code (function_app.py and its packages, as the deployment package holds them:
`.funcignore` leaves `__pycache__` out) is copied to a temporary folder, and IMPORT_RUNS (default 15)
fresh interpreters run `import function_app` there, one after another, in two modes:
- as deployed: with PYTHONDONTWRITEBYTECODE=1, so the app's modules are compiled from source on every
  import, as in a package without bytecode; the installed libraries use their installed .pyc;
- bytecode cached: the app's .pyc written by a first, untimed run and used by the timed ones.
Each child reports the import's wall time (`time.perf_counter()` around the import statement), the CPU
time of the importing thread (`time.thread_time()`: the msgraph warm-up thread that function_app starts is
not counted; on a busy machine this figure moves less than wall time) and how many modules it added.
The parent also times each whole process (interpreter start, import, exit), as `time python -c "import
function_app"` would. Figures are medians (min-max). Issue 12's target: ≤ 0.8 s import wall as deployed,
on 2 quiet cores.
"""

from __future__ import annotations

import json
import os
import shutil
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
import json, sys, time
n = len(sys.modules)
wall, cpu = time.perf_counter(), time.thread_time()
import function_app
wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
print(json.dumps({"wall": wall, "cpu": cpu, "modules": len(sys.modules) - n}))
"""


def copy_app(target: Path) -> None:
    for name in APP:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target / name)


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


def main() -> int:
    print(f"cold import of function_app: {RUNS} fresh interpreters per mode, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="riposte-import-") as folder:
        app = Path(folder)
        copy_app(app)
        report("as deployed (app compiled from source)", [one_import(app, write_bytecode=False) for _ in range(RUNS)])
        one_import(app, write_bytecode=True)  # writes the app's .pyc; not timed
        report("bytecode cached", [one_import(app, write_bytecode=True) for _ in range(RUNS)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
