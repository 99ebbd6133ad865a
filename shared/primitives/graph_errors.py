"""Graph failures as step errors a technician can act on (status and Graph's code, never message parsing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.models.run import StepError

if TYPE_CHECKING:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

_BY_STATUS = {
    401: ("graph_unauthorized", "Riposte could not authenticate to the tenant's Microsoft Graph."),
    403: ("graph_forbidden", "Riposte's app lacks the permission or directory role for this action."),
    404: ("graph_not_found", "The target object does not exist in the tenant."),
    429: ("graph_throttled", "Microsoft Graph kept throttling the request; retries were exhausted."),
}


def step_error(status: int | None, graph_code: str | None, graph_message: str | None = None) -> StepError:
    code, message = _BY_STATUS.get(status or 0, ("graph_error", f"Microsoft Graph answered {status}."))
    if status and status >= 500:
        code, message = "graph_unavailable", f"Microsoft Graph answered {status} after retries."
    detail = f" ({graph_code})" if graph_code else ""
    if graph_message:
        detail += f": {graph_message[:300]}"
    return StepError(code=code, message=message + detail)


def from_odata(exc: ODataError) -> StepError:
    error = exc.error
    return step_error(exc.response_status_code, getattr(error, "code", None), getattr(error, "message", None))
