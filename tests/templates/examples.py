"""Parameter values an installer would give each built-in template (the required ones; the rest default)."""

from __future__ import annotations

from typing import Any

from shared.playbook_templates.catalog import Template

SOC = ["soc@yourmsp.com.au"]
APPROVERS = ["lead@yourmsp.com.au"]


def required_parameters(template: Template) -> dict[str, Any]:
    """A value for each required parameter: approvers for `approvers`, the SOC for any other address list."""
    values: dict[str, Any] = {}
    for parameter in template.parameters:
        if parameter.required:
            assert parameter.type == "emailList", f"no example for {template.id}.{parameter.name}"
            values[parameter.name] = APPROVERS if parameter.name == "approvers" else SOC
    return values
