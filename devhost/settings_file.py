"""local.settings.json, read the way Core Tools reads it: Values become environment variables."""

from __future__ import annotations

import json
import os
from pathlib import Path


def load_local_settings(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    """Copy `Values` into the environment without overriding what is already set; return the names set."""
    target = os.environ if environ is None else environ
    values = json.loads(path.read_text()).get("Values", {})
    applied = []
    for name, value in values.items():
        if name not in target:
            target[name] = str(value)
            applied.append(name)
    return applied
