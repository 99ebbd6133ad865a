#!/bin/sh
# azd prepackage (service api): ship the app's bytecode, hash-checked, so a cold start does not compile the
# app from source (infra/hooks/compile_bytecode.py says why). Needs Python 3.11, the runtime's version: the
# project's .venv, else python3.11 on the PATH; without one the package is made as before, without bytecode.
set -eu
cd "$(dirname "$0")/../.."

for candidate in .venv/bin/python python3.11; do
  if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    exec "$candidate" infra/hooks/compile_bytecode.py
  fi
done
echo "prepackage: no Python 3.11 found; the package carries no bytecode and compiles the app at each cold start" >&2
