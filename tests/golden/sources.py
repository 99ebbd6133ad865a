"""The example playbooks the repository shows: examples/playbooks/*.json, and the bodies README.md and
docs/*.md post to /api/playbooks (curl -d '...') or show as a JSON block with `actions`."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_CURL_BODY = re.compile(r"/api/playbooks -d '(.*?)'", re.DOTALL)
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)


def example_playbooks() -> dict[str, dict]:
    """Each example playbook by where it is shown (`README.md#2`, `examples/playbooks/x.json`)."""
    found: dict[str, dict] = {}
    for path in sorted((ROOT / "examples" / "playbooks").glob("*.json")):
        found[str(path.relative_to(ROOT))] = json.loads(path.read_text())
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        bodies = _CURL_BODY.findall(text) + [b for b in _JSON_BLOCK.findall(text) if '"actions"' in b]
        for number, body in enumerate(bodies, 1):
            found[f"{path.relative_to(ROOT)}#{number}"] = json.loads(body)
    return found
