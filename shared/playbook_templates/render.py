"""A template plus the installer's choices -> a playbook draft, validated like `POST /api/playbooks`.

Parameters are checked twice: their JSON type here (a list of strings, a string, an integer within bounds),
then their meaning by the playbook's own models once substituted (an address, a wait of up to 30 days, an
NCRONTAB expression ...). Either way the error names the parameter, `parameters.<name>`, not the place in
the playbook it landed in.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.api_model import SAVING
from shared.errors import Refused
from shared.models.playbook import InstallOptions, PlaybookDraft
from shared.playbook_templates.catalog import Template, TemplateParameter, placeholders, substitute
from shared.schedules.models import PopulationQuery
from shared.validation import describe

STRING_TYPES = {"severity", "duration", "cron", "timeZone"}


def _invalid(field: str, reason: str) -> Refused:
    return Refused(400, "invalid_request", reason, field=field)


def _check_type(parameter: TemplateParameter, value: Any) -> None:
    field = f"parameters.{parameter.name}"
    if parameter.type == "emailList":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise _invalid(field, "must be a non-empty list of email addresses")
    elif parameter.type == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(field, "must be a whole number")
        if parameter.minimum is not None and value < parameter.minimum:
            raise _invalid(field, f"must be at least {parameter.minimum}")
        if parameter.maximum is not None and value > parameter.maximum:
            raise _invalid(field, f"must be at most {parameter.maximum}")
    elif parameter.type in STRING_TYPES and not isinstance(value, str):
        raise _invalid(field, f"must be a string ({parameter.type})")


def parameter_values(template: Template, given: dict[str, Any]) -> dict[str, Any]:
    """Every parameter's value: the given one, else its default; unknown or missing ones refused (400)."""
    for name in given:
        if template.parameter(name) is None:
            known = ", ".join(p.name for p in template.parameters)
            raise _invalid(f"parameters.{name}", f"unknown parameter; {template.id} takes {known}")
    values: dict[str, Any] = {}
    for parameter in template.parameters:
        if parameter.name in given and given[parameter.name] is None:
            raise _invalid(f"parameters.{parameter.name}", "cannot be null; leave it out for its default")
        value = given.get(parameter.name, parameter.default)
        if value is None:
            raise _invalid(f"parameters.{parameter.name}", f"required: {parameter.description}")
        _check_type(parameter, value)
        values[parameter.name] = value
    return values


def _blame(field: str, where: dict[str, str]) -> str:
    """The parameter a playbook field came from (`actions[3].to[0]` -> `parameters.socRecipients[0]`)."""
    untagged = field
    for query in PopulationQuery:  # the population's union tag, which the template's path does not have
        untagged = untagged.replace(f"trigger.population.{query.value}.", "trigger.population.")
    for path, name in where.items():
        if untagged == path or untagged.startswith((f"{path}.", f"{path}[")):
            return f"parameters.{name}{untagged[len(path):]}"
    return field


def body(template: Template, options: InstallOptions) -> dict[str, Any]:
    """The playbook body the template renders to with these choices (not validated yet)."""
    values = parameter_values(template, options.parameters)
    rendered = substitute(template.playbook, values)
    rendered["trigger"] = {**rendered.get("trigger", {}),
                           "tenantScope": options.tenant_scope.model_dump(mode="json", by_alias=True)}
    rendered["mode"] = options.mode.value
    if options.name is not None:
        rendered["name"] = options.name
    if options.enabled is not None:
        rendered["enabled"] = options.enabled
    rendered["acknowledgeBroadTrigger"] = options.acknowledge_broad_trigger
    return rendered


def render(template: Template, options: InstallOptions) -> PlaybookDraft:
    """The draft, validated as a client's playbook is; a problem is a 400 naming the parameter behind it."""
    try:
        return PlaybookDraft.model_validate(body(template, options), context=SAVING)
    except ValidationError as exc:
        where = placeholders(template.playbook)
        problem = describe(exc)[0]
        raise _invalid(_blame(problem["field"], where), problem["reason"]) from None


def draft_json(draft: PlaybookDraft) -> dict[str, Any]:
    """A draft as the API shows it (what templates are compared in)."""
    return draft.model_dump(mode="json", by_alias=True)
