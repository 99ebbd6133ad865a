"""The console's tenants and groups: lists, pages, forms validated as the API validates (errors at the field),
each change audited, CSRF and roles, a tenant's sources and Graph permission health, attacker text escaped."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared import services
from shared.console.security import issue_csrf_token
from shared.models.tenant import Tenant
from shared.sources.catalog import SourceName
from shared.sources.models import SourceConfig, SourceError, SourcesConfig, SourceState
from shared.store.sources import SOURCES, state_entity
from tests.api.helpers import bec_playbook, principal_header, unique

pytestmark = pytest.mark.stack
XSS = ('<img src=x onerror=alert(1)>', '</script><script>alert(1)</script>')
ANA_NAME = f"ana-{uuid.uuid4().hex[:6]}@msp.example"
ANA = principal_header("PLAYBOOKS_READ", "PLAYBOOKS_MANAGE", name=ANA_NAME)


@pytest.fixture
def console(app_devhost):
    with httpx.Client(base_url=app_devhost.origin, timeout=20, follow_redirects=False, headers=ANA) as c:
        yield c


def token_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def post(console: httpx.Client, form_page: str, action: str, **fields: str) -> httpx.Response:
    return console.post(action, data={"csrf": token_of(console.get(form_page))} | fields)


def guid() -> str:
    return str(uuid.uuid4())


def audit_actions(console: httpx.Client, target: str) -> list[tuple[str, str]]:
    events = console.get("/api/audit", params={"target": target}).json()["value"]
    return [(e["action"], e["actor"]) for e in events]


def field_error(page: str, name: str) -> str:
    """The error shown at input `name`, checked to be tied to the input by aria-describedby."""
    assert re.search(rf'id="f-{name}"[^>]*aria-describedby="[^"]*e-{name}', page), f"{name} has no described error"
    return html.unescape(re.search(rf'<p class="field-error" id="e-{name}">([^<]*)</p>', page).group(1))


def test_a_tenant_registered_in_the_form_is_listed_shown_and_audited(console):
    tenant_id = "00000000-0000-4000-8000-" + uuid.uuid4().hex[:12]  # sorts on the list's first page
    form = console.get("/tenants/new")
    assert form.status_code == 200 and 'for="f-name"' in form.text
    saved = console.post("/actions/tenants", data={"csrf": token_of(form), "id": tenant_id.upper(), "name": "Contoso",
                                                   "domains": "contoso.example\ncontoso.onmicrosoft.com",
                                                   "psaSystem": "halopsa", "psaCompanyId": "12"})
    assert saved.status_code == 303 and saved.headers["location"] == f"/tenants/{tenant_id}"  # canonical GUID
    shown = console.get(f"/tenants/{tenant_id}")
    assert shown.status_code == 200 and "contoso.onmicrosoft.com" in shown.text and "halopsa, company 12" in shown.text
    assert f'href="/tenants/{tenant_id}"' in console.get("/tenants").text
    assert audit_actions(console, tenant_id) == [("tenant.created", ANA_NAME)]

    edited = post(console, f"/tenants/{tenant_id}/edit", f"/actions/tenants/{tenant_id}", name="Contoso Ltd",
                  domains="contoso.example", psaSystem="halopsa", psaCompanyId="12")
    assert edited.status_code == 303
    assert services.directory().get_tenant(tenant_id).name == "Contoso Ltd"
    assert audit_actions(console, tenant_id)[0] == ("tenant.replaced", ANA_NAME)


@pytest.mark.parametrize(("fields", "at", "reason"), [
    ({"id": "not-a-guid", "name": "X"}, "id", "must be a GUID"),
    ({"name": ""}, "name", "at least 1 character"),
    ({"name": "X", "subscriptionIds": f"{uuid.uuid4()}\nnope"}, "subscriptionIds",
     "subscriptionIds[1]: must be a GUID"),
    ({"name": "X", "psaSystem": "connectwise", "psaCompanyId": "3"}, "psaSystem", "boardId is required"),
    ({"name": "X", "psaSystem": "halopsa", "psaCompanyId": "0"}, "psaCompanyId", "greater than or equal to 1"),
])
def test_a_refused_tenant_form_says_why_at_the_field_and_keeps_what_was_typed(console, fields, at, reason):
    body = {"id": guid()} | fields
    refused = post(console, "/tenants/new", "/actions/tenants", **body)
    assert refused.status_code == 400
    assert reason in field_error(refused.text, at)
    assert html.escape(body["name"]) in refused.text or body["name"] == ""
    if "not-a" not in body["id"]:
        with pytest.raises(Exception, match=body["id"]):
            services.directory().get_tenant(body["id"])


def test_a_tenant_registered_twice_is_refused_at_its_id(console):
    tenant_id = guid()
    assert post(console, "/tenants/new", "/actions/tenants", id=tenant_id, name="First").status_code == 303
    again = post(console, "/tenants/new", "/actions/tenants", id=tenant_id, name="Second")
    assert again.status_code == 409 and "registered already" in field_error(again.text, "id")
    assert services.directory().get_tenant(tenant_id).name == "First"


def test_forms_need_this_principals_token_and_the_manage_role(console, app_devhost):
    tenant_id = guid()
    assert console.post("/actions/tenants", data={"id": tenant_id, "name": "X"}).status_code == 403
    other = principal_header("PLAYBOOKS_READ", "PLAYBOOKS_MANAGE", name="someone-else@msp.example")
    stolen = token_of(console.get("/tenants/new"))
    assert console.post("/actions/tenants", data={"csrf": stolen, "id": tenant_id, "name": "X"},
                        headers=other).status_code == 403
    reader = principal_header("PLAYBOOKS_READ", name="reader@msp.example")
    with httpx.Client(base_url=app_devhost.origin, timeout=20, headers=reader) as read_only:
        assert read_only.get("/tenants/new").status_code == 403
        listing = read_only.get("/tenants")
        assert listing.status_code == 200 and "Register a tenant" not in listing.text
        own_token = issue_csrf_token("reader@msp.example")
        refused = read_only.post("/actions/tenants", data={"csrf": own_token, "id": tenant_id, "name": "X"})
        assert refused.status_code == 403 and "PLAYBOOKS_MANAGE" in refused.text
    assert audit_actions(console, tenant_id) == []


def test_groups_are_created_checked_against_registered_tenants_and_deleted(console):
    member = guid()
    assert post(console, "/tenants/new", "/actions/tenants", id=member, name="Member").status_code == 303
    group_id = unique("grp-")
    unknown = guid()
    refused = post(console, "/groups/new", "/actions/groups", id=group_id, name="West",
                   tenantIds=f"{member}\n{unknown}")
    assert refused.status_code == 400 and f"tenantIds[1]: Unknown tenant '{unknown}'" in field_error(refused.text,
                                                                                                      "tenantIds")
    bad_id = post(console, "/groups/new", "/actions/groups", id="Not OK", name="West")
    assert bad_id.status_code == 400 and "pattern" in field_error(bad_id.text, "id")

    assert post(console, "/groups/new", "/actions/groups", id=group_id, name="West",
                tenantIds=member).headers["location"] == f"/groups/{group_id}"
    page = console.get(f"/groups/{group_id}")
    assert page.status_code == 200 and f'href="/tenants/{member}"' in page.text
    assert "West" in console.get(f"/tenants/{member}").text  # the tenant page names its groups

    in_use = post(console, f"/tenants/{member}", f"/actions/tenants/{member}/delete")
    assert in_use.status_code == 409 and group_id in in_use.text
    assert post(console, f"/groups/{group_id}", f"/actions/groups/{group_id}/delete").status_code == 303
    assert console.get(f"/groups/{group_id}").status_code == 404
    assert post(console, f"/tenants/{member}", f"/actions/tenants/{member}/delete").status_code == 303
    assert [a for a, _ in audit_actions(console, group_id)] == ["group.deleted", "group.created"]
    assert [a for a, _ in audit_actions(console, member)] == ["tenant.deleted", "tenant.created"]


def test_a_tenant_in_a_playbooks_scope_cannot_be_deleted(console):
    tenant_id = guid()
    services.directory().create_tenant(Tenant(id=tenant_id, name="Scoped"))
    scope = {"type": "tenant", "tenantId": tenant_id}
    created = console.post("/api/playbooks", json=bec_playbook(
        name=unique("Scoped "), trigger={"category": "security", "minSeverity": "high", "titleRegex": unique("zz"),
                                         "tenantScope": scope}))
    assert created.status_code == 201, created.text
    try:
        refused = post(console, f"/tenants/{tenant_id}", f"/actions/tenants/{tenant_id}/delete")
        assert refused.status_code == 409 and "used by playbooks" in refused.text
        page = console.get(f"/tenants/{tenant_id}").text
        # The playbook's primitives' permissions are needed here; no source reads with them: not checked.
        assert "User.EnableDisableAccount.All" in page
        assert "not checked" in page
    finally:
        console.delete(f"/api/playbooks/{created.json()['id']}")


def test_the_tenant_page_shows_its_sources_and_what_their_polls_say_of_its_consent(console, sources_off_at_teardown):
    tenant_id = guid()
    services.directory().create_tenant(Tenant(id=tenant_id, name="Polled"))
    store = services.sources()
    # Long intervals: the shared devhost's pollers must not poll this made-up tenant during the test.
    store.put_config(tenant_id, SourcesConfig(sources={SourceName.ALERTS_V2: SourceConfig(enabled=True,
                                                                                          interval_seconds=86_400),
                                                       SourceName.RISKY_USERS: SourceConfig(enabled=True,
                                                                                            interval_seconds=86_400)}))
    now = datetime.now(UTC)
    far = now + timedelta(days=1)
    refused = SourceState(watermark=now - timedelta(hours=2), last_attempt_at=now, next_due_at=far,
                          last_success_at=now - timedelta(hours=2),
                          last_error=SourceError(at=now, code="consent_revoked", status=403, reason=XSS[0]))
    working = SourceState(watermark=now, last_attempt_at=now, last_success_at=now, next_due_at=far)
    table = services.tables()(SOURCES)
    table.upsert_entity(state_entity(tenant_id, SourceName.ALERTS_V2, refused))
    table.upsert_entity(state_entity(tenant_id, SourceName.RISKY_USERS, working))

    page = console.get(f"/tenants/{tenant_id}")
    assert page.status_code == 200
    text = page.text
    rows = {m.group(1): m.group(2) for m in re.finditer(r"<code>([A-Za-z.]+)</code></th>\s*<td[^>]*>(.*?)</td>",
                                                            text, re.S)}
    assert "refused" in rows["SecurityAlert.Read.All"] and "granted" in rows["IdentityRiskyUser.Read.All"]
    # refused first
    assert text.index("SecurityAlert.Read.All</code>") < text.index("IdentityRiskyUser.Read.All</code>")
    assert "consent_revoked" in text and "(HTTP 403)" in text
    assert XSS[0] not in text and html.escape(XSS[0]) in text  # Graph's error text is shown as text


@pytest.mark.parametrize("name", XSS)
def test_attacker_text_in_a_tenant_name_renders_as_text(console, name):
    tenant_id = "00000000-0000-4000-8000-" + uuid.uuid4().hex[:12]
    assert post(console, "/tenants/new", "/actions/tenants", id=tenant_id, name=name).status_code == 303
    for path in (f"/tenants/{tenant_id}", "/tenants", f"/tenants/{tenant_id}/edit",
                 f"/audit?target={tenant_id}"):
        page = console.get(path)
        assert page.status_code == 200, path
        assert name not in page.text and "<script>alert" not in page.text and "<img src=x" not in page.text, path
    assert html.escape(name) in console.get(f"/tenants/{tenant_id}").text


def test_unknown_or_malformed_ids_are_404_pages(console):
    assert console.get(f"/tenants/{guid()}").status_code == 404
    assert console.get("/tenants/not-a-guid").status_code == 404
    assert console.get("/groups/NOPE!").status_code == 404
    assert console.get(f"/groups/{unique('none-')}").status_code == 404


def test_editing_a_tenant_in_the_console_keeps_its_notification_contacts(console):
    # The form does not show contacts (the API sets them, issue 15 item 2): an edit must not drop them.
    tenant_id = guid()
    services.directory().create_tenant(Tenant(id=tenant_id, name="Contoso", contacts=["soc@contoso.example"]))
    edited = post(console, f"/tenants/{tenant_id}/edit", f"/actions/tenants/{tenant_id}", name="Contoso Ltd")
    assert edited.status_code == 303
    stored = services.directory().get_tenant(tenant_id)
    assert (stored.name, stored.contacts) == ("Contoso Ltd", ["soc@contoso.example"])
