"""Tenants, groups and the audit log in Chromium: the forms work without JavaScript help, a refused save shows the
reason at its field, every page passes axe-core, reads at 1280 and 390 px, and attacker text stays text."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared import services
from shared.models.tenant import Tenant
from shared.sources.catalog import SourceName
from shared.sources.models import SourceError, SourceState
from shared.store.sources import SOURCES, state_entity
from tests.browser.axe import assert_accessible

pytestmark = pytest.mark.stack
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
XSS = '<img src=x onerror=alert(1)></script><script>alert(1)</script>'


def check_page(page, name: str) -> None:
    """Accessible, screenshots at desktop and phone width, no horizontal page scroll on the phone."""
    assert_accessible(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SHOTS / f"tenants-{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SHOTS / f"tenants-{name}-390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
    page.set_viewport_size({"width": 1280, "height": 900})


def test_register_a_tenant_correct_a_refused_field_and_read_its_page(page, app_devhost):
    problems: list[str] = []
    dialogs: list[str] = []
    # A refused save answers 400, which Chromium logs as a failed load: expected; anything else (a CSP refusal) not.
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "status of 400" not in m.text
            else None)
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tenant_id = str(uuid.uuid4())

    page.goto(app_devhost.origin + "/tenants/new")
    check_page(page, "new")
    page.get_by_label("Tenant id (the customer's Entra tenant GUID)").fill("not-a-guid")
    page.get_by_label("Name").fill(XSS)
    page.get_by_role("button", name="Save").click()
    error = page.locator("#e-id")
    assert "must be a GUID" in error.inner_text()
    assert page.get_by_label("Tenant id (the customer's Entra tenant GUID)").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Name").input_value() == XSS  # what was typed is kept, as text
    check_page(page, "refused")

    page.get_by_label("Tenant id (the customer's Entra tenant GUID)").fill(tenant_id)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"**/tenants/{tenant_id}")
    assert page.locator("h1").inner_text() == XSS
    now = datetime.now(UTC)
    services.tables()(SOURCES).upsert_entity(state_entity(tenant_id, SourceName.ALERTS_V2, SourceState(
        last_attempt_at=now, next_due_at=now + timedelta(days=1),
        last_error=SourceError(at=now, code="consent_revoked", status=403, reason=XSS))))
    page.reload()
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    check_page(page, "tenant")

    page.goto(app_devhost.origin + f"/audit?target={tenant_id}")
    assert "tenant.created" in page.locator("table").inner_text()
    check_page(page, "audit")
    assert dialogs == [] and problems == []


def test_groups_page_and_form_are_accessible(page, app_devhost):
    tenant_id = str(uuid.uuid4())
    services.directory().create_tenant(Tenant(id=tenant_id, name="Group member"))
    page.goto(app_devhost.origin + "/groups/new")
    page.get_by_label("Group id").fill(f"g-{uuid.uuid4().hex[:8]}")
    page.get_by_label("Name").fill("West coast")
    page.get_by_label("Tenants").fill(tenant_id)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/groups/g-*")
    assert page.get_by_role("link", name="Group member").count() == 1
    check_page(page, "group")
    page.goto(app_devhost.origin + "/tenants")
    check_page(page, "list")
