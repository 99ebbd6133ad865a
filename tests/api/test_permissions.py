"""Who may call what: every management route x every role set, under production settings.

The route list comes from the app itself (a fresh DFApp built from function_app.BLUEPRINTS), so a new
route without a row in MATRIX fails `test_every_management_route_is_in_the_matrix`.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field

import azure.durable_functions as df
import azure.functions as func
import httpx
import pytest

from devhost.function_index import HTTP_TRIGGER, FunctionIndex, index_app
from tests.api.helpers import bec_playbook, principal_header, unique

pytestmark = pytest.mark.stack

READ, MANAGE, RUN = "read", "manage", "run"
# The routes that are not the management API: alert senders (sender secrets, tests/api/test_ingest_auth_http.py),
# the health probe (anonymous by design), the approval link's pages (its token, tests/approvals/test_link_http.py),
# the signed-in approval page (the caller must be one of the gate's approvers) and Graph's notification
# endpoints (each notification's clientState, tests/notifications/).
NOT_MANAGEMENT = {"ingest_alerts", "ingest_tenant_alerts", "health", "approval_page", "approval_response",
                  "graph_notifications", "graph_lifecycle",
                  # the signed-in approval page: being on the gate, not a role (tests/approvals/test_signed_in_http.py)
                  "signed_in_page", "signed_in_decision",
                  # the console checks each page's permission itself (shared/console/dispatch.py, tests/console)
                  "console_page", "console_action"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below /api, ids that do not exist: an authorized call gets 404/400, never a change
    permission: str
    allowed_status: int  # what an authorized caller gets
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


def _guid() -> str:
    return str(uuid.uuid4())


MATRIX: dict[str, Route] = {
    "list_playbooks": Route("GET", "/playbooks", READ, 200),
    "get_playbook": Route("GET", f"/playbooks/{uuid.uuid4().hex}", READ, 404),
    "create_playbook": Route("POST", "/playbooks", MANAGE, 400, body={"name": "no actions, never saved"}),
    "update_playbook": Route("PATCH", f"/playbooks/{uuid.uuid4().hex}", MANAGE, 404, body={"enabled": False},
                             headers={"If-Match": '"v1"'}),
    "delete_playbook": Route("DELETE", f"/playbooks/{uuid.uuid4().hex}", MANAGE, 404),
    "list_tenants": Route("GET", "/tenants", READ, 200),
    "get_tenant": Route("GET", f"/tenants/{_guid()}", READ, 404),
    "create_tenant": Route("POST", "/tenants", MANAGE, 400, body={"id": "not-a-guid", "name": "never saved"}),
    "replace_tenant": Route("PUT", f"/tenants/{_guid()}", MANAGE, 400, body={"name": ""}),
    "delete_tenant": Route("DELETE", f"/tenants/{_guid()}", MANAGE, 404),
    "list_ingest_credentials": Route("GET", f"/tenants/{_guid()}/ingest-credentials", READ, 404),
    "create_ingest_credential": Route("POST", f"/tenants/{_guid()}/ingest-credentials", MANAGE, 404, body={}),
    "rotate_ingest_credential": Route("POST", f"/tenants/{_guid()}/ingest-credentials/ic-{'0' * 16}/rotate",
                                      MANAGE, 404, body={"overlapHours": 1}),
    "revoke_ingest_credential": Route("DELETE", f"/tenants/{_guid()}/ingest-credentials/ic-{'0' * 16}", MANAGE, 404),
    "get_tenant_sources": Route("GET", f"/tenants/{_guid()}/sources", READ, 404),
    "replace_tenant_sources": Route("PUT", f"/tenants/{_guid()}/sources", MANAGE, 404, body={"sources": {}}),
    "list_groups": Route("GET", "/tenant-groups", READ, 200),
    "get_group": Route("GET", f"/tenant-groups/{unique('grp-')}", READ, 404),
    "create_group": Route("POST", "/tenant-groups", MANAGE, 400, body={"id": "Not Valid", "name": "never saved"}),
    "replace_group": Route("PUT", f"/tenant-groups/{unique('grp-')}", MANAGE, 400, body={"name": ""}),
    "delete_group": Route("DELETE", f"/tenant-groups/{unique('grp-')}", MANAGE, 404),
    "list_alerts": Route("GET", "/alerts?limit=1", READ, 200),
    "get_alert": Route("GET", f"/alerts/{uuid.uuid4().hex}", READ, 404),
    "list_runs": Route("GET", f"/runs?alertId={uuid.uuid4().hex}", READ, 404),
    "get_run": Route("GET", f"/runs/{uuid.uuid4().hex}", READ, 404),
    "list_audit": Route("GET", "/audit?limit=1", READ, 200),
    "playbook_metrics_report": Route("GET", "/metrics/playbooks", READ, 200),
    "list_playbook_versions": Route("GET", f"/playbooks/{uuid.uuid4().hex}/versions", READ, 404),
    "get_playbook_version": Route("GET", f"/playbooks/{uuid.uuid4().hex}/versions/1", READ, 404),
    "list_primitives": Route("GET", "/primitives", READ, 200),
    "list_templates": Route("GET", "/templates", READ, 200),
    "get_template": Route("GET", "/templates/no-such-template", READ, 404),
    "install_template": Route("POST", "/templates/no-such-template/install", MANAGE, 404,
                              body={"tenantScope": {"type": "all"}}),
    "preview_template_update": Route("GET", f"/playbooks/{uuid.uuid4().hex}/template-update", READ, 404),
    "apply_template_update": Route("POST", f"/playbooks/{uuid.uuid4().hex}/template-update", MANAGE, 404,
                                   headers={"If-Match": '"v1"'}),
    "simulate_playbook": Route("POST", f"/playbooks/{uuid.uuid4().hex}/simulate", READ, 404,
                               body={"alertId": "al-" + "0" * 32}),
    "execute_playbook": Route("POST", f"/playbooks/{uuid.uuid4().hex}/execute", RUN, 404,
                              body={"alertId": "al-" + "0" * 32}),
    "rollback_run": Route("POST", f"/runs/{uuid.uuid4().hex}/rollback", RUN, 404),
    "cancel_run": Route("POST", f"/runs/{uuid.uuid4().hex}/cancel", RUN, 404),
    "reveal_password": Route("POST", f"/runs/{uuid.uuid4().hex}/steps/0/password", RUN, 404),
    "start_selftest": Route("POST", "/selftest", RUN, 400, body={"ackTimeoutSeconds": 0}),
    "ack_selftest": Route("POST", f"/selftest/{uuid.uuid4().hex}/ack", RUN, 404),
    "list_approvals": Route("GET", "/approvals?status=pending", RUN, 200),
    "get_approval": Route("GET", f"/approvals/ap-{uuid.uuid4().hex}", RUN, 404),
    "decide_approval": Route("POST", f"/approvals/ap-{uuid.uuid4().hex}", RUN, 404, body={"decision": "approve"}),
    # the automation paths: the same handlers as above (tests/api/test_automation_api.py)
    "automation_list_playbooks": Route("GET", "/automation/playbooks", READ, 200),
    "automation_create_playbook": Route("POST", "/automation/playbooks", MANAGE, 400,
                                        body={"name": "no actions, never saved"}),
    "automation_replace_playbook": Route("PUT", f"/automation/playbooks/{uuid.uuid4().hex}", MANAGE, 404,
                                         body=bec_playbook(name="never saved"), headers={"If-Match": '"v1"'}),
    "automation_run_playbook": Route("POST", f"/automation/playbooks/{uuid.uuid4().hex}/run", RUN, 404,
                                     body={"alertId": "al-" + "0" * 32}),
    "automation_simulate_playbook": Route("POST", f"/automation/playbooks/{uuid.uuid4().hex}/simulate", READ, 404,
                                          body={"alertId": "al-" + "0" * 32}),
    "automation_decide_approval": Route("POST", f"/automation/approvals/ap-{uuid.uuid4().hex}", RUN, 404,
                                        body={"decision": "approve"}),
}

# Which roles grant what, as the product promises it (not read from shared.auth, so a change there shows here).
ALLOWED = {
    READ: {"PLAYBOOKS_READ", "PLAYBOOKS_MANAGE", "SECURITY_MANAGE"},
    MANAGE: {"PLAYBOOKS_MANAGE"},
    RUN: {"SECURITY_MANAGE"},
}
ROLE_SETS = {
    "PLAYBOOKS_READ": ("PLAYBOOKS_READ",),
    "PLAYBOOKS_MANAGE": ("PLAYBOOKS_MANAGE",),
    "SECURITY_MANAGE": ("SECURITY_MANAGE",),
    "no-roles": (),
    "unknown-role": ("Global.Admin",),
    "lowercase-role": ("playbooks_manage",),
    "READ+SECURITY": ("PLAYBOOKS_READ", "SECURITY_MANAGE"),
}
MALFORMED_PRINCIPAL = {"X-MS-CLIENT-PRINCIPAL": "this is !! not base64 json"}


def management_index() -> FunctionIndex:
    import function_app  # lazy: function_app imports the whole app: only for the test that reads its routes

    # A fresh DFApp: get_functions() may be called once per app object, and the running devhost owns that call.
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return index_app(app)


@pytest.fixture(scope="module")
def index() -> FunctionIndex:
    return management_index()


def call(devhost, route: Route, headers: dict[str, str]) -> httpx.Response:
    content = None if route.body is None else json.dumps(route.body).encode()
    with httpx.Client(base_url=f"{devhost.origin}/api", timeout=20) as c:
        return c.request(route.method, route.path, content=content, headers=route.headers | headers)


def test_every_management_route_is_in_the_matrix(index):
    http = {spec.name for spec in index.by_trigger(HTTP_TRIGGER)}
    assert NOT_MANAGEMENT <= http, "a route excluded from the matrix no longer exists"
    management = http - NOT_MANAGEMENT
    assert management == set(MATRIX), (
        f"routes without a permission row: {sorted(management - set(MATRIX))}; "
        f"rows for routes that do not exist: {sorted(set(MATRIX) - management)}")


@pytest.mark.parametrize("name", list(MATRIX))
def test_matrix_paths_reach_their_function(index, name):
    route = MATRIX[name]
    found = index.match_http(route.method, "/api" + route.path.split("?")[0])
    assert found is not None and found[0].spec.name == name
    # the management API is anonymous to the host: App Service authentication and app roles guard it
    assert found[0].spec.trigger.get("authLevel") == "ANONYMOUS"


@pytest.mark.parametrize("name", list(MATRIX))
def test_no_identity_is_401(app_devhost, production_settings, name):
    response = call(app_devhost, MATRIX[name], {})
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("name", list(MATRIX))
def test_malformed_principal_is_401(app_devhost, production_settings, name):
    response = call(app_devhost, MATRIX[name], MALFORMED_PRINCIPAL)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("roles", list(ROLE_SETS))
@pytest.mark.parametrize("name", list(MATRIX))
def test_role_matrix(app_devhost, production_settings, name, roles):
    route = MATRIX[name]
    granted = bool(set(ROLE_SETS[roles]) & ALLOWED[route.permission])
    response = call(app_devhost, route, principal_header(*ROLE_SETS[roles]))
    if granted:
        assert response.status_code == route.allowed_status, response.text
    else:
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "forbidden"
        assert any(role in error["message"] for role in ALLOWED[route.permission])  # says which role would do


@pytest.mark.parametrize("header", [
    "",  # empty: no principal at all
    base64.b64encode(b"not json").decode(),
    base64.b64encode(b"[1, 2]").decode(),
    base64.b64encode(json.dumps({"claims": "PLAYBOOKS_MANAGE"}).encode()).decode(),
    base64.b64encode(json.dumps({"claims": [{"typ": "roles"}]}).encode()).decode(),
], ids=["empty", "not-json", "json-array", "claims-not-a-list", "claim-without-val"])
def test_malformed_principal_variants_are_401(app_devhost, production_settings, header):
    response = call(app_devhost, MATRIX["list_playbooks"], {"X-MS-CLIENT-PRINCIPAL": header})
    assert response.status_code == 401, response.text


def test_role_claim_type_from_role_typ(app_devhost, production_settings):
    """Entra ID's long role claim type works when the principal says that is its role type."""
    role_typ = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    doc = {"auth_typ": "aad", "role_typ": role_typ, "claims": [{"typ": role_typ, "val": "PLAYBOOKS_READ"}]}
    headers = {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(doc).encode()).decode()}
    assert call(app_devhost, MATRIX["list_playbooks"], headers).status_code == 200
    assert call(app_devhost, MATRIX["create_playbook"], headers).status_code == 403


def test_a_principal_header_wins_over_the_local_principal_in_development(app_devhost):
    """In development the local principal has every role, but a caller who presents a principal is that principal."""
    read_only = principal_header("PLAYBOOKS_READ")
    name = unique("never-")
    route = Route("POST", "/playbooks", MANAGE, 201,
                  body=bec_playbook(name=name, trigger={"titleRegex": unique("zz")}, enabled=False))
    assert call(app_devhost, route, read_only).status_code == 403
    listed = call(app_devhost, MATRIX["list_playbooks"], read_only)
    assert listed.status_code == 200
    assert name not in {p["name"] for p in listed.json()["value"]}


def test_forbidden_writes_change_nothing(app_devhost, production_settings):
    """A 403 is decided before the body is read: a valid playbook from a reader is not saved."""
    name = unique("forbidden-")
    route = Route("POST", "/playbooks", MANAGE, 201,
                  body=bec_playbook(name=name, trigger={"titleRegex": unique("zz")}, enabled=False))
    for roles in (("PLAYBOOKS_READ",), ("SECURITY_MANAGE",)):
        assert call(app_devhost, route, principal_header(*roles)).status_code == 403
    listed = call(app_devhost, MATRIX["list_playbooks"], principal_header("PLAYBOOKS_READ"))
    assert name not in {p["name"] for p in listed.json()["value"]}
