"""The built-in playbook templates: data files, one per template version, `builtin/<id>/v<N>.json`.

A template is a playbook body (as `POST /api/playbooks` takes it, without `tenantScope` or `mode`: the
installer chooses those) in which a value may be a placeholder `{"$param": "<name>"}`, replaced whole by a
parameter's value, so a parameter keeps its JSON type (a list of addresses, a number) and no text is ever
pasted into an expression or a template. Every version of a template stays in the folder: a playbook
installed from version 1 is updated to version 2 by comparing what version 1 rendered with what version 2
renders (shared/playbook_templates/updates.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from shared.api_model import CamelModel
from shared.models.playbook import TEMPLATE_ID_PATTERN
from shared.sources.catalog import SourceName

BUILTIN = Path(__file__).resolve().parent / "builtin"
PLACEHOLDER = "$param"

ParameterType = Literal["emailList", "severity", "duration", "integer", "cron", "timeZone"]


class TemplateParameter(CamelModel):
    name: str = Field(pattern=r"^[a-z][A-Za-z0-9]{0,62}$")
    type: ParameterType
    description: str = Field(min_length=1, max_length=500)
    default: Any = None  # None: the installer must give a value
    minimum: int | None = None  # integer parameters
    maximum: int | None = None

    @property
    def required(self) -> bool:
        return self.default is None


class Template(CamelModel):
    id: str = Field(pattern=TEMPLATE_ID_PATTERN)
    version: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    # The pulled sources whose alerts it acts on (their permissions count as the template's).
    sources: list[SourceName] = Field(default_factory=list)
    parameters: list[TemplateParameter] = Field(default_factory=list)
    playbook: dict[str, Any]

    @model_validator(mode="after")
    def _placeholders_are_declared(self) -> Template:
        declared = {p.name for p in self.parameters}
        if len(declared) != len(self.parameters):
            raise ValueError(f"template {self.id}: a parameter is declared twice")
        used = set(placeholders(self.playbook).values())
        if used - declared or declared - used:
            raise ValueError(f"template {self.id}: placeholders {sorted(used)} do not match the parameters "
                             f"{sorted(declared)}")
        for key in ("tenantScope", "mode"):
            if key in self.playbook.get("trigger", {}) or key in self.playbook:
                raise ValueError(f"template {self.id}: {key} is the installer's choice, not the template's")
        return self

    def parameter(self, name: str) -> TemplateParameter | None:
        return next((p for p in self.parameters if p.name == name), None)


def _placeholder_name(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1 and PLACEHOLDER in value:
        name = value[PLACEHOLDER]
        return name if isinstance(name, str) else None
    return None


def placeholders(value: Any, path: str = "") -> dict[str, str]:
    """Every placeholder in `value`: its field path (as API errors name fields) -> the parameter's name."""
    name = _placeholder_name(value)
    if name is not None:
        return {path: name}
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found |= placeholders(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= placeholders(item, f"{path}[{index}]")
    return found


def substitute(value: Any, parameters: dict[str, Any]) -> Any:
    """`value` with each placeholder replaced by its parameter's value (a deep copy: the template is untouched)."""
    name = _placeholder_name(value)
    if name is not None:
        return parameters[name]
    if isinstance(value, dict):
        return {key: substitute(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, parameters) for item in value]
    return value


@dataclass(frozen=True)
class TemplateCatalog:
    """Every version of every template, read once from a folder."""

    versions: dict[str, dict[int, Template]]

    @classmethod
    def load(cls, folder: Path = BUILTIN) -> TemplateCatalog:
        versions: dict[str, dict[int, Template]] = {}
        for path in sorted(folder.glob("*/v*.json")):
            template = Template.model_validate(json.loads(path.read_text(encoding="utf-8")))
            if (template.id, f"v{template.version}.json") != (path.parent.name, path.name):
                raise ValueError(f"{path}: holds {template.id} version {template.version}")
            versions.setdefault(template.id, {})[template.version] = template
        for template_id, by_version in versions.items():
            if sorted(by_version) != list(range(1, len(by_version) + 1)):
                raise ValueError(f"template {template_id}: versions {sorted(by_version)} are not 1..N")
        return cls(versions)

    @cached_property
    def latest(self) -> dict[str, Template]:
        return {tid: by_version[max(by_version)] for tid, by_version in sorted(self.versions.items())}

    def get(self, template_id: str, version: int | None = None) -> Template | None:
        by_version = self.versions.get(template_id)
        if by_version is None:
            return None
        return by_version.get(max(by_version) if version is None else version)
