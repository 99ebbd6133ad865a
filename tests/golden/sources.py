"""The example playbooks the repository shows: examples/playbooks/*.json, and the bodies README.md and
docs/*.md post to /api/playbooks (curl -d '...') or show as a JSON block with `actions`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared.models.playbook import InstallOptions
from shared.playbook_templates.catalog import TemplateCatalog
from shared.playbook_templates.render import body as rendered_body
from tests.templates.examples import required_parameters

ROOT = Path(__file__).resolve().parents[2]
_CURL_BODY = re.compile(r"/api/playbooks -d '(.*?)'", re.DOTALL)
_JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)


CONTOSO = "11111111-1111-4111-8111-111111111111"


def builtin_playbooks() -> dict[str, dict]:
    """Each built-in template as an installer would make it live for Contoso, with example recipients
    (shared/playbook_templates/builtin/<id>/v<N>.json, newest version)."""

    found: dict[str, dict] = {}
    for template in TemplateCatalog.load().latest.values():
        options = InstallOptions.model_validate({"tenantScope": {"type": "tenant", "tenantId": CONTOSO},
                                                 "parameters": required_parameters(template), "mode": "live"})
        found[f"template {template.id} v{template.version}"] = rendered_body(template, options)
    return found


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
