"""Readiness checks behind GET /api/health: cheap, bounded, and never leak configuration."""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.api_model import CamelModel
from shared.settings import AppSettings
from shared.storage import get_table_service


class CheckResult(CamelModel):
    name: str
    ok: bool
    detail: str
    elapsed_ms: float


class HealthReport(CamelModel):
    status: str  # "ok" or "degraded"
    version: str
    environment: str
    checks: list[CheckResult]


def run_check(name: str, probe: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:  # a failing dependency is a result, not a crash
        # The type only: exception text from storage clients can echo account names or URLs.
        detail, ok = f"unreachable ({type(exc).__name__})", False
    return CheckResult(name=name, ok=ok, detail=detail, elapsed_ms=round((time.perf_counter() - started) * 1000, 2))


def probe_table_storage() -> str:
    # One page of one table, no retries: health must answer fast even when storage is down.
    pages = get_table_service().list_tables(results_per_page=1, retry_total=0).by_page()
    next(pages, None)
    return "reachable"


def build_report(settings: AppSettings, probes: dict[str, Callable[[], str]]) -> HealthReport:
    checks = [run_check(name, probe) for name, probe in probes.items()]
    return HealthReport(
        status="ok" if all(c.ok for c in checks) else "degraded",
        version=settings.version,
        environment=settings.environment.value,
        checks=checks,
    )
