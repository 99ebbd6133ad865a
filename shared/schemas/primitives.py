"""Every primitive's parameter schema, by primitive name: what a playbook's actions may be besides the flow actions.

The catalog (shared/primitives/catalog.py) registers one handler for each and checks on import that the two agree,
so a playbook is validated, and its destructive steps known, without loading a handler."""

from __future__ import annotations

from typing import Any

from shared.schemas.alert_writeback import AddAlertCommentParams, UpdateAlertStatusParams
from shared.schemas.chat import PostSlackParams, PostTeamsParams
from shared.schemas.containment import DisableUserAndRevokeParams
from shared.schemas.devices import (
    RemoteLockDeviceParams,
    RetireDeviceParams,
    SyncDeviceParams,
    TerminateDevicesParams,
    WipeDeviceParams,
)
from shared.schemas.evidence import CollectEvidenceParams
from shared.schemas.http_request import HttpRequestParams
from shared.schemas.indicators import AddDefenderIndicatorParams
from shared.schemas.machine_actions import (
    CollectInvestigationPackageParams,
    IsolateMachineParams,
    ReleaseMachineParams,
    RestrictAppExecutionParams,
    RunAntivirusScanParams,
    StopAndQuarantineFileParams,
    UnrestrictAppExecutionParams,
)
from shared.schemas.mailbox import ConvertToSharedMailboxParams, DisableInboxRuleParams, RemoveForwardingRulesParams
from shared.schemas.network import BlockSignInCountryParams, BlockSignInIpParams
from shared.schemas.notify import NotifyEmailParams
from shared.schemas.sentinel import AddSentinelCommentParams, UpdateSentinelIncidentParams
from shared.schemas.tickets import CreatePsaTicketParams
from shared.schemas.user_access import DisableUserParams, RevokeUserSessionsParams
from shared.schemas.user_mfa import ResetMfaRegistrationParams
from shared.schemas.user_recovery import EnableUserParams, ForcePasswordResetParams, RemoveLicensesParams
from shared.schemas.user_risk import ConfirmUserCompromisedParams, DismissUserRiskParams
from shared.schemas.webhook import CallWebhookParams

# In the order the docs and GET /api/primitives list them.
SCHEMAS: tuple[type[Any], ...] = (
    DisableUserParams, RevokeUserSessionsParams,
    DisableUserAndRevokeParams,
    NotifyEmailParams,
    WipeDeviceParams, RetireDeviceParams, RemoteLockDeviceParams, SyncDeviceParams, TerminateDevicesParams,
    IsolateMachineParams, ReleaseMachineParams, RunAntivirusScanParams, RestrictAppExecutionParams,
    UnrestrictAppExecutionParams, CollectInvestigationPackageParams, StopAndQuarantineFileParams,
    AddDefenderIndicatorParams,
    BlockSignInCountryParams, BlockSignInIpParams,
    RemoveForwardingRulesParams, DisableInboxRuleParams, ConvertToSharedMailboxParams,
    EnableUserParams, ForcePasswordResetParams, RemoveLicensesParams,
    ResetMfaRegistrationParams,
    ConfirmUserCompromisedParams, DismissUserRiskParams,
    CallWebhookParams,
    PostTeamsParams, PostSlackParams,
    CreatePsaTicketParams,
    AddAlertCommentParams, UpdateAlertStatusParams,
    AddSentinelCommentParams, UpdateSentinelIncidentParams,
    CollectEvidenceParams,
    HttpRequestParams,
)

PRIMITIVE_PARAMS: dict[str, type[Any]] = {
    schema.model_fields["type"].annotation.__args__[0]: schema for schema in SCHEMAS}


def is_destructive(action_type: str) -> bool:
    schema = PRIMITIVE_PARAMS.get(action_type)
    return schema is not None and schema.destructive
