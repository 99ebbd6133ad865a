"""One settings object: the app's settings are read from the environment in shared/settings.py, and only a few
named seams read it otherwise, each for a stated reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = [ROOT / "function_app.py", *sorted(p for d in ("shared", "triggers", "activities", "orchestrations")
                                          for p in (ROOT / d).rglob("*.py"))]

READERS = {
    "shared/settings.py": "the settings object (AppSettings, load_settings)",
    "shared/secrets.py": "the secrets seam: RIPOSTE_SECRET_* (Key Vault references in Azure), never in settings",
    "shared/ingest_auth.py": "the ingestion secrets (RIPOSTE_INGEST_SECRETS, a Key Vault reference): secrets, as above",
    "shared/graph/settings.py": "Graph's connection (GraphSettings), validated on its own: a Graph misconfiguration "
                                "fails Graph calls, not every endpoint",
    "shared/store/async_tables.py": "the HTTP libraries' own proxy variables (HTTPS_PROXY ...), not Riposte's",
}


def reads_environment(tree: ast.AST) -> list[int]:
    """Lines that touch `os.environ` or call `os.getenv`."""
    return sorted(node.lineno for node in ast.walk(tree)
            if (isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name) and node.value.id == "os")
            or (isinstance(node, ast.ImportFrom) and node.module == "os"
                and any(a.name in ("environ", "getenv") for a in node.names)))


def test_only_the_settings_and_the_named_seams_read_the_environment():
    found = [f"{path.relative_to(ROOT)}:{line}" for path in CODE if str(path.relative_to(ROOT)) not in READERS
             for line in reads_environment(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []


def test_the_check_sees_a_read():
    assert reads_environment(ast.parse("import os\nx = os.environ.get('A')\ny = os.getenv('B')")) == [2, 3]
    assert reads_environment(ast.parse("from os import environ")) == [1]
    assert all(reads_environment(ast.parse((ROOT / path).read_text())) for path in READERS)
