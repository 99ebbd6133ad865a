"""The runner's promise (shared/primitives/runner.py): a step never raises. Whatever a primitive throws, the step
is recorded as failed with a reason, the run goes on, and the exception's text stays out of the run record."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar, Literal

import httpx
import pytest
from azure.core.exceptions import HttpResponseError
from pydantic import BaseModel

from shared.api_model import CamelModel
from shared.graph import InvalidTenantIdError
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepOutcome
from shared.primitives.registry import Primitive
from shared.primitives.runner import execute_step
from tests.primitives.user_fixtures import alert, run_context

SECRET = "client_secret=hunter2"  # an exception's text may hold anything: it belongs in the log only


class ExplodeParams(CamelModel):
    type: Literal["test_explode"] = "test_explode"
    destructive: ClassVar[bool] = False
    limit: int = 1


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("even str() fails")


class Strict(BaseModel):
    n: int


def _pydantic_error() -> Exception:
    try:
        Strict(n="x")  # type: ignore[arg-type]
    except Exception as exc:
        return exc
    raise AssertionError("unreachable")


EXCEPTIONS = [
    RuntimeError(SECRET), KeyError(SECRET), ValueError(SECRET), TypeError(SECRET), AttributeError(SECRET),
    IndexError(SECRET), ZeroDivisionError(SECRET), NotImplementedError(SECRET), RecursionError(SECRET),
    MemoryError(SECRET), OSError(SECRET), ConnectionResetError(SECRET), TimeoutError(SECRET),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, SECRET), StopAsyncIteration(SECRET), AssertionError(SECRET),
    ExceptionGroup("many", [ValueError(SECRET), KeyError(SECRET)]), UnprintableError(),
    httpx.ConnectError(SECRET), HttpResponseError(message=SECRET), InvalidTenantIdError(SECRET),
    _pydantic_error(),
]


def explode_with(monkeypatch: pytest.MonkeyPatch, behaviour) -> None:
    async def handler(params: Any, ctx: Any) -> Any:
        return behaviour()

    monkeypatch.setitem(PRIMITIVES, "test_explode", Primitive(
        name="test_explode", params=ExplodeParams, summary="raises", graph_permissions=(), directory_roles=(),
        idempotent=True, needs_user=False, handler=handler, describe=lambda p, c: ""))


async def run_step(action: dict[str, Any] | None = None):
    return await execute_step(3, action or {"type": "test_explode"}, alert(), run_context(), deps=None)


@pytest.mark.parametrize("error", EXCEPTIONS, ids=lambda e: type(e).__name__)
async def test_a_step_never_raises_whatever_the_primitive_throws(monkeypatch: pytest.MonkeyPatch, error):
    def throw():
        raise error

    explode_with(monkeypatch, throw)
    step = await run_step()
    assert (step.index, step.action_type, step.status) == (3, "test_explode", StepStatus.FAILED)
    assert step.error is not None and step.error.code and step.error.message
    assert step.completed_at >= step.started_at
    if not isinstance(error, InvalidTenantIdError):  # that one's text is ours, made to be shown
        assert "hunter2" not in json.dumps(step.model_dump(mode="json"))


async def test_a_primitive_returning_no_outcome_is_a_failed_step(monkeypatch: pytest.MonkeyPatch):
    explode_with(monkeypatch, lambda: None)
    step = await run_step()
    assert step.status is StepStatus.FAILED and step.error.code == "internal_error"


async def test_bad_stored_parameters_and_unknown_primitives_are_failed_steps(monkeypatch: pytest.MonkeyPatch):
    explode_with(monkeypatch, lambda: StepOutcome(StepStatus.SUCCEEDED))
    assert (await run_step()).status is StepStatus.SUCCEEDED
    bad = await run_step({"type": "test_explode", "limit": "many"})
    assert (bad.status, bad.error.code) == (StepStatus.FAILED, "invalid_parameters") and "limit" in bad.error.message
    unknown = await run_step({"type": "no_such_primitive"})
    assert (unknown.status, unknown.error.code) == (StepStatus.FAILED, "unknown_action")


async def test_cancellation_is_not_swallowed(monkeypatch: pytest.MonkeyPatch):
    # Not an error of the step: the host cancelling the activity must stop it, not record a failure.
    def cancel():
        raise asyncio.CancelledError

    explode_with(monkeypatch, cancel)
    with pytest.raises(asyncio.CancelledError):
        await run_step()
