"""Defender for Endpoint API failures, classified for a step's error by HTTP status and Defender's own error code
(`error.code` of its OData-style body), never by the message text (which Microsoft says may change).

    400 {"error": {"code": "ActiveRequestAlreadyExists", "message": "Action is already in progress",
                   "target": "<correlation id>"}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.http_retry import ApiError
from shared.models.run import StepError

# The API's application (WindowsDefenderATP): where an admin finds its permissions to consent to.
DEFENDER_API_NAME = "WindowsDefenderATP"
DEFENDER_APP_ID = "fc780465-2017-40d4-a0c5-307022471b92"

# Defender's error codes (common-errors page of the API reference) that decide what a step does.
ACTIVE_REQUEST_EXISTS = "ActiveRequestAlreadyExists"  # 400: an action of that type is pending on the machine
UNSUPPORTED_CODES = frozenset({"OsPlatformNotSupported", "ClientVersionNotSupported"})
DISABLED_FEATURE = "DisabledFeature"  # 403: the tenant's plan or settings do not include the feature


@dataclass(eq=False)
class DefenderError(ApiError):
    """A Defender API call that did not succeed, already classified (``code``) for the step's error."""

    code: str  # defender_unauthorized, defender_forbidden, defender_not_found, defender_throttled, ...
    message: str
    status: int | None = None
    api_code: str | None = None  # Defender's error.code, e.g. ActiveRequestAlreadyExists
    detail: str | None = None  # Defender's message, shortened
    attempts: int = 1

    @property
    def not_found(self) -> bool:
        return self.code == "defender_not_found"

    @property
    def action_pending(self) -> bool:
        """An action of the same type is already pending on the machine (the request changed nothing)."""
        return self.api_code == ACTIVE_REQUEST_EXISTS

    def step_error(self) -> StepError:
        detail = f" ({self.api_code}: {self.detail})" if self.api_code and self.detail else (
            f" ({self.api_code or self.detail})" if self.api_code or self.detail else "")
        return StepError(code=self.code, message=self.message + detail)


def parse_error(body: Any) -> tuple[str | None, str | None]:
    """(Defender's error code, its message) from an error body; (None, None) when it has neither."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code, message = error.get("code"), error.get("message")
    return (code if isinstance(code, str) else None), (message[:300] if isinstance(message, str) else None)


def classify(what: str, status: int, body: Any, headers: Mapping[str, str], attempts: int = 1) -> DefenderError:
    """The error for an answer with this status and body (`what`: the call, for the message)."""
    api_code, detail = parse_error(body)
    if status == 401:
        return DefenderError(
            "defender_unauthorized",
            "Microsoft Defender for Endpoint rejected Riposte's token: the tenant must consent to Riposte's "
            f"{DEFENDER_API_NAME} application permissions (token audience https://api.securitycenter.microsoft.com).",
            status, api_code, detail, attempts)
    if status == 403:
        if api_code == DISABLED_FEATURE:
            return DefenderError("defender_feature_disabled", f"{what}: this tenant's Defender plan or settings do "
                                 "not include the feature.", status, api_code, detail, attempts)
        return DefenderError("defender_forbidden", f"Riposte's app may not {what} in this tenant: it needs the "
                             f"{DEFENDER_API_NAME} application permission for it, admin-consented.",
                             status, api_code, detail, attempts)
    if status == 404:
        return DefenderError("defender_not_found", "Microsoft Defender for Endpoint does not know that machine or "
                             "action in this tenant.", status, api_code, detail, attempts)
    if status == 429:
        return DefenderError("defender_throttled", "Microsoft Defender for Endpoint kept throttling the request; "
                             "retries were exhausted.", status, api_code, detail, attempts)
    if status >= 500:
        return DefenderError("defender_unavailable", f"Microsoft Defender for Endpoint answered {status} after "
                             "retries.", status, api_code, detail, attempts)
    if api_code == ACTIVE_REQUEST_EXISTS:
        return DefenderError("defender_action_pending", f"{what}: an action of that type is already pending on the "
                             "machine.", status, api_code, detail, attempts)
    if api_code in UNSUPPORTED_CODES:
        return DefenderError("defender_unsupported", f"{what}: the machine's operating system or Defender client "
                             "does not support this action.", status, api_code, detail, attempts)
    return DefenderError("defender_error", f"Microsoft Defender for Endpoint refused to {what} ({status}).",
                         status, api_code, detail, attempts)
