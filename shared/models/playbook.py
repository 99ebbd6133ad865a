"""Playbooks: trigger conditions plus an ordered list of actions, validated as a whole on save."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from shared.api_model import CamelModel
from shared.expressions import compile_expression
from shared.models.alert import Severity, normalize_category
from shared.models.subject import DevicePlatform, UserType, parse_platform
from shared.models.tenant import GroupId, Guid
from shared.patterns import Re2Pattern
from shared.schedules.models import Population, ScheduleSpec
from shared.schemas.flow import FLOW_ACTIONS, ApprovalPolicy, ConditionParams, WaitUntilParams
from shared.schemas.primitives import PRIMITIVE_PARAMS, is_destructive

MAX_ACTIONS = 50

# A playbook's `actions`: any primitive or flow action, chosen by `type` (an unknown type is a 400).
Action = Annotated[Union[tuple(PRIMITIVE_PARAMS.values()) + tuple(FLOW_ACTIONS.values())],  # noqa: UP007
                   Field(discriminator="type")]


class PlaybookMode(StrEnum):
    LIVE = "live"
    SIMULATE = "simulate"  # runs on live alerts, describes every step, acts on nothing


class AllTenants(CamelModel):
    type: Literal["all"]


class OneTenant(CamelModel):
    type: Literal["tenant"]
    tenant_id: Guid


class TenantGroupScope(CamelModel):
    type: Literal["group"]
    group_id: GroupId


TenantScope = Annotated[Union[AllTenants, OneTenant, TenantGroupScope], Field(discriminator="type")]  # noqa: UP007


class Trigger(CamelModel):
    category: str | None = Field(default=None, min_length=1, max_length=100)  # None: any category
    min_severity: Severity = Severity.INFORMATIONAL
    title_regex: Re2Pattern | None = None
    tenant_scope: TenantScope = Field(default_factory=lambda: AllTenants(type="all"))
    # A scheduled trigger (shared/schedules/): when, and whom in each tenant of the scope. Such a playbook
    # matches no alert; it runs on the findings of its own population only.
    schedule: ScheduleSpec | None = None
    population: Population | None = None
    # False: a target fires once per episode (e.g. per last sign-in), however many periods it stays found.
    refire_each_period: bool = False
    # True: an alert already taken in that is delivered again at a higher severity is matched again, and this
    # playbook runs if it matches now (once per severity level; shared/severity_escalation.py). False (the
    # default): only new alerts start runs.
    reevaluate_on_severity_increase: bool = False
    # Conditions on whom and what the alert is about (shared/matching/subject.py): the alert's first user is of
    # one of these types / its first device runs one of these platforms. Read from the alert when it carries
    # them, else from Graph at intake, once per alert, only when a playbook that passes the other conditions
    # asks. None: any (no condition).
    user_types: list[UserType] | None = Field(default=None, min_length=1, max_length=len(UserType))
    device_platforms: list[DevicePlatform] | None = Field(default=None, min_length=1, max_length=len(DevicePlatform))

    @field_validator("device_platforms", mode="before")
    @classmethod
    def _platform_spelling(cls, value: object) -> object:
        return [parse_platform(v) for v in value] if isinstance(value, list) else value

    @field_validator("user_types", "device_platforms")
    @classmethod
    def _distinct(cls, values: list | None) -> list | None:
        if values is not None and len(set(values)) != len(values):
            raise ValueError("lists a value twice")
        return values

    @property
    def subject_conditions(self) -> bool:
        """Whether matching needs facts about the alert's user or device beyond the alert's own fields."""
        return self.user_types is not None or self.device_platforms is not None

    @field_validator("category", mode="before")
    @classmethod
    def _normalize(cls, value: object) -> object:
        # Before the length check, so "   " is refused rather than saved as "" (which never matches).
        return normalize_category(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _schedule_is_whole(self) -> Trigger:
        if (self.schedule is None) != (self.population is None):
            missing = "population" if self.population is None else "schedule"
            raise ValueError(f"trigger.{missing} is required: a scheduled trigger has both a schedule and a "
                             "population")
        if self.schedule is None and self.refire_each_period:
            raise ValueError("trigger.refireEachPeriod applies to scheduled triggers only (add a schedule)")
        if self.schedule is not None and self.reevaluate_on_severity_increase:
            raise ValueError("trigger.reevaluateOnSeverityIncrease applies to alert triggers only: a scheduled "
                             "trigger matches no alert")
        if self.schedule is not None and self.subject_conditions:
            raise ValueError("trigger.userTypes and trigger.devicePlatforms match alerts; a scheduled trigger "
                             "matches none (its population decides whom it runs on)")
        if self.schedule is not None and (self.category is not None or self.title_regex is not None):
            raise ValueError("trigger.category and trigger.titleRegex match alerts; a scheduled trigger "
                             "matches none (its population's findings have their own category)")
        return self

    @property
    def scheduled(self) -> bool:
        return self.schedule is not None

    @model_serializer(mode="wrap")
    def _omit_unscheduled(self, handler: SerializerFunctionWrapHandler) -> Any:
        # An alert trigger reads (and is stored) as before schedules existed.
        data = handler(self)
        if self.schedule is None and isinstance(data, dict):
            for name in ("schedule", "population", "refireEachPeriod", "refire_each_period"):
                data.pop(name, None)
        if not self.reevaluate_on_severity_increase and isinstance(data, dict):
            # Off by default: a trigger that does not opt in reads (and is stored) as before the option.
            for name in ("reevaluateOnSeverityIncrease", "reevaluate_on_severity_increase"):
                data.pop(name, None)
        if isinstance(data, dict):  # no subject condition: the trigger reads (and is stored) as before them
            for names, value in ((("userTypes", "user_types"), self.user_types),
                                 (("devicePlatforms", "device_platforms"), self.device_platforms)):
                if value is None:
                    for name in names:
                        data.pop(name, None)
        return data


def check_actions(actions: list) -> list:
    """What no single action can check alone: references to earlier steps, and skips that stay in
    the playbook. (The message names the action; the field is `actions`.)"""
    saved: set[str] = set()  # the facts http_request steps before this one save
    for i, action in enumerate(actions):
        expression = (action.if_ if isinstance(action, ConditionParams)
                      else action.condition if isinstance(action, WaitUntilParams) else None)
        if expression is not None:
            compiled = compile_expression(expression)
            later = sorted(n for n in compiled.step_indexes() if n >= i)
            if later:
                raise ValueError(f"actions[{i}] refers to steps[{later[0]}], which has not run yet at that "
                                 f"point: a condition can read only earlier steps (0 to {i - 1})")
            unsaved = sorted({str(p[1]) for p in compiled.references() if p[0] == "facts" and len(p) > 1} - saved)
            if unsaved:
                raise ValueError(f"actions[{i}] reads facts.{unsaved[0]}, which no http_request step before it saves "
                                 f"(saveAs before it: {sorted(saved) or 'none'})")
        if getattr(action, "type", None) == "http_request":
            saved.add(action.save_as)
        for n, recipient in enumerate(getattr(action, "to", None) or []):
            step = getattr(recipient, "step", None)
            if step is not None and (step >= i or getattr(actions[step], "type", None) != "approval"):
                gates = [j for j in range(i) if getattr(actions[j], "type", None) == "approval"] or "none"
                raise ValueError(f"actions[{i}].to[{n}] names the approvers of step {step}, which is not an approval "
                                 f"step before it (approval steps before it: {gates})")
        skipped = action.skip if isinstance(action, ConditionParams) else getattr(action, "covers", None)
        if skipped is not None and i + skipped >= len(actions):
            what = "skip" if isinstance(action, ConditionParams) else "covers"
            raise ValueError(f"actions[{i}].{what} is {skipped} but only {len(actions) - i - 1} step(s) follow it")
    return actions


class PlaybookDraft(CamelModel):
    """What a client sends to create a playbook."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    trigger: Trigger
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    enabled: bool = True
    mode: PlaybookMode = PlaybookMode.LIVE
    # Destructive steps wait for this approval first (None: they run without asking).
    approval_policy: ApprovalPolicy | None = None
    # The author means a trigger that matches every alert of every tenant to run destructive steps (broad_problem).
    acknowledge_broad_trigger: bool = False

    @field_validator("actions")
    @classmethod
    def _actions_fit_together(cls, actions: list) -> list:
        return check_actions(actions)


class PlaybookPatch(CamelModel):
    """A partial update: fields present replace the stored ones (trigger and actions as a whole)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    trigger: Trigger | None = None
    actions: list[Action] | None = Field(default=None, min_length=1, max_length=MAX_ACTIONS)
    enabled: bool | None = None
    mode: PlaybookMode | None = None
    approval_policy: ApprovalPolicy | None = None  # null removes the policy
    acknowledge_broad_trigger: bool | None = None

    @field_validator("actions")
    @classmethod
    def _actions_fit_together(cls, actions: list | None) -> list | None:
        return None if actions is None else check_actions(actions)

    @field_validator("name", "description", "trigger", "actions", "enabled", "mode", "acknowledge_broad_trigger",
                     mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for fields the client sent, so the error names the field.
        if value is None:
            raise ValueError("cannot be null; leave the field out to keep the stored value")
        return value


def broad_problem(playbook: PlaybookDraft) -> str | None:
    """Why saving this playbook needs `acknowledgeBroadTrigger: true`, or None.

    A live, enabled playbook whose trigger narrows nothing (every tenant, any category, no title regex, severity
    below high) would run its destructive steps on every alert of every customer. That is refused unless the
    request says it means it. Destructive steps behind the approval policy (rejected on timeout) are not counted:
    a person decides each time. Checked at save time only, so stored playbooks always load.
    """
    trigger = playbook.trigger
    broad = (isinstance(trigger.tenant_scope, AllTenants) and trigger.category is None
             and trigger.title_regex is None and trigger.min_severity.rank < Severity.HIGH.rank)
    live = playbook.enabled and playbook.mode is PlaybookMode.LIVE
    if not broad or not live or playbook.acknowledge_broad_trigger:
        return None
    policy = playbook.approval_policy

    def gated(action_type: str) -> bool:
        return (policy is not None and policy.on_timeout == "reject"
                and (policy.primitives is None or action_type in policy.primitives))

    ungated = [a.type for a in playbook.actions
               if is_destructive(a.type) and not gated(a.type)]
    if not ungated:
        return None
    steps = ", ".join(dict.fromkeys(ungated))
    if trigger.scheduled:  # every target of the population in every customer tenant, on each schedule
        return (f"this schedule evaluates its population in every tenant (tenantScope all), so {steps} would run "
                "on every target found without approval; narrow the tenantScope, add an approvalPolicy, or send "
                '"acknowledgeBroadTrigger": true to say you mean it')
    return (f"this trigger matches every alert of every tenant (tenantScope all, no category, no titleRegex, "
            f"minSeverity {trigger.min_severity.value}), so {steps} would run on all of "
            "them without approval; narrow the trigger, add an approvalPolicy, or send "
            '"acknowledgeBroadTrigger": true to say you mean it')


TEMPLATE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class InstallOptions(CamelModel):
    """What `POST /api/templates/{id}/install` takes: the installer's choices, kept with the playbook so a newer
    template version is rendered with the same ones (shared/playbook_templates/)."""

    tenant_scope: TenantScope
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=50)
    mode: PlaybookMode = PlaybookMode.SIMULATE  # a built-in describes what it would do until told to act
    name: str | None = Field(default=None, min_length=1, max_length=200)  # None: the template's name
    enabled: bool | None = None  # None: as the template ships (MFA Not Registered ships paused)
    acknowledge_broad_trigger: bool = False


class TemplateRef(CamelModel):
    """The template (and version) a playbook was installed or last updated from, and how it was installed."""

    id: str = Field(pattern=TEMPLATE_ID_PATTERN)
    version: int = Field(ge=1)
    install: InstallOptions


class Playbook(PlaybookDraft):
    id: str
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None
    template: TemplateRef | None = None  # installed from a built-in template (None: written by hand)

    @model_serializer(mode="wrap")
    def _omit_no_template(self, handler: SerializerFunctionWrapHandler) -> Any:
        # A playbook written by hand reads (and is stored) as before templates existed.
        data = handler(self)
        if self.template is None and isinstance(data, dict):
            data.pop("template", None)
        return data
