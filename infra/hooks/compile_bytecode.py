"""Compile the app's own modules into the deployment package: hash-checked bytecode (PEP 552).

The Functions host runs the app from a read-only package, and `.funcignore` used to leave `__pycache__` out, so
every cold start compiled the app's ~170 modules from source (0.1-0.35 s of CPU, docs/benchmarks.md) and could
not keep the result. Timestamp bytecode would not help: a package does not keep the sources' mtimes exactly
(zip stores them to 2 seconds), so it would be stale on arrival and compiled again. ``checked-hash`` bytecode
records a hash of its source instead: the interpreter hashes the source (far cheaper than compiling it) and uses
the bytecode only when they match, so a changed source is never run from stale bytecode.

Run by azd before it packages the service (azure.yaml, infra/hooks/prepackage.sh) with Python 3.11, the
runtime's version (bytecode is tagged with it: another version's files are ignored, never wrong).
`python infra/hooks/compile_bytecode.py [ROOT]`; ROOT defaults to the repository.
"""

from __future__ import annotations

import compileall
import py_compile
import sys
from pathlib import Path

# What the package holds of the app's Python code (.funcignore leaves the rest out).
APP_SOURCES = ("function_app.py", "shared", "triggers", "activities", "orchestrations")
RUNTIME = (3, 11)  # infra/app/function-app.bicep: runtime python 3.11


def compile_app(root: Path) -> bool:
    """Write checked-hash bytecode for every app module under root (rewriting what is there); True if all compiled."""
    ok = True
    for name in APP_SOURCES:
        path = root / name
        mode = py_compile.PycInvalidationMode.CHECKED_HASH
        if path.is_dir():
            ok &= bool(compileall.compile_dir(path, quiet=1, force=True, invalidation_mode=mode))
        else:
            ok &= bool(compileall.compile_file(path, quiet=1, force=True, invalidation_mode=mode))
    return ok


def main(argv: list[str]) -> int:
    if sys.version_info[:2] != RUNTIME:
        print(f"compile_bytecode: Python {sys.version_info[0]}.{sys.version_info[1]} is not the runtime's "
              f"{RUNTIME[0]}.{RUNTIME[1]}; nothing compiled (the app compiles at each cold start)", file=sys.stderr)
        return 0
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[2]
    return 0 if compile_app(root) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
