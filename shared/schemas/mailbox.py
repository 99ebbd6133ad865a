"""Parameter schemas of shared/primitives/mailbox.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from shared.patterns import Re2Pattern
from shared.schemas.common import UserTargetParams

RULE_ID_PATTERN = r"^[A-Za-z0-9+/=_-]{1,512}$"


class RemoveForwardingRulesParams(UserTargetParams):
    type: Literal["remove_forwarding_rules"]
    destructive: ClassVar[bool] = False
    # disable: reversible and keeps the evidence; delete: the rule is gone (rollback re-creates it).
    mode: Literal["disable", "delete"] = "disable"
    # Only rules/forwarding to addresses outside the tenant's domain (the user's UPN domain or a subdomain
    # of it). Mailbox ForwardingAddress names a recipient object of the organisation, so it counts as internal.
    external_only: bool = False
    # Also clear Exchange Online mailbox forwarding (needs Exchange.ManageAsApp + Exchange Administrator).
    include_mailbox_forwarding: bool = True


class DisableInboxRuleParams(UserTargetParams):
    type: Literal["disable_inbox_rule"]
    destructive: ClassVar[bool] = False
    # RE2, searched in the rule's displayName (case-sensitive unless it starts with (?i)).
    name_pattern: Re2Pattern | None = None
    rule_id: str | None = Field(default=None, pattern=RULE_ID_PATTERN)
    # A pattern matching more rules than this in one mailbox is refused rather than disabling them all.
    max_rules: int = Field(default=5, ge=1, le=50)

    @model_validator(mode="after")
    def _names_a_rule(self) -> DisableInboxRuleParams:
        if self.name_pattern is None and self.rule_id is None:
            raise ValueError("give namePattern, ruleId or both (both: a rule must match both)")
        return self


class ConvertToSharedMailboxParams(UserTargetParams):
    type: Literal["convert_to_shared_mailbox"]
    destructive: ClassVar[bool] = True
