"""The console's frame: served at the root beside the API, security headers, sign-in, roles, CSRF, static files."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from shared.auth import GRANTS, Permission
from shared.console import dispatch
from shared.console.routing import _PARAM, ROUTER, Router
from shared.console.security import CSRF_TTL, CsrfError, check_csrf, issue_csrf_token
from shared.console.web import ConsoleResponse
from shared.settings import get_settings
from tests.api.helpers import principal_header


@pytest.fixture
def client(app_devhost):
    with httpx.Client(base_url=app_devhost.origin, timeout=20, follow_redirects=False) as c:
        yield c


def test_the_root_url_opens_the_console_with_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response.text and "style=" not in response.text  # nothing inline to allow
    assert 'lang="en"' in response.text and 'href="/alerts"' in response.text


def test_the_api_keeps_its_answers_under_the_console(client):
    nope = client.get("/api/nope")
    assert nope.status_code == 404 and nope.json()["error"]["code"] == "not_found"
    assert client.post("/api/health").status_code == 405
    assert client.get("/api/health").headers["content-type"].startswith("application/json")


def test_static_files_are_only_those_shipped(client):
    css = client.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/nope.css").status_code == 404
    assert client.get("/static/..%2Ffunction_app.py").status_code == 404
    assert client.get("/static/../dispatch.py").status_code in (404, 400)


def test_an_unknown_page_is_a_404_page_and_a_get_never_reaches_an_action(client):
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "There is no page here." in missing.text
    assert client.get("/actions/anything").status_code == 404  # actions are POST only: a GET finds no page


def test_without_a_principal_the_console_sends_the_browser_to_sign_in(client, production_settings):
    response = client.get("/runs")
    assert response.status_code == 302
    assert response.headers["location"] == "/.auth/login/aad?post_login_redirect_uri=/runs"


@pytest.fixture
def scratch_routes():
    """Routes registered on the console's router for one test, removed afterwards."""
    before = list(ROUTER.routes)
    yield ROUTER
    ROUTER.routes[:] = before


def _run(coro):
    return asyncio.run(coro)


def test_a_page_needing_a_role_the_principal_lacks_is_a_403_page(scratch_routes, monkeypatch):
    monkeypatch.setenv("RIPOSTE_LOCAL_PRINCIPAL_ROLES", "PLAYBOOKS_READ")
    get_settings.cache_clear()
    try:
        scratch_routes.get("scratch/manage-only", Permission.MANAGE)(lambda req: ConsoleResponse(200, b"secret"))
        response = _run(dispatch.handle("GET", "/scratch/manage-only", {}, b"", {}))
    finally:
        get_settings.cache_clear()
    assert response.status == 403 and b"PLAYBOOKS_MANAGE" in response.body and b"secret" not in response.body


def test_a_form_post_needs_this_principals_token_from_this_site(scratch_routes, monkeypatch):
    get_settings.cache_clear()
    calls = []
    scratch_routes.post("actions/scratch/act", Permission.READ)(
        lambda req: calls.append(dict(req.form)) or ConsoleResponse(200, b"done"))
    name = get_settings().local_principal_name
    good = issue_csrf_token(name)

    def post(form: dict[str, str], headers: dict[str, str] | None = None) -> ConsoleResponse:
        return _run(dispatch.handle("POST", "/actions/scratch/act", {}, urlencode(form).encode(), headers or {}))

    assert post({"x": "1"}).status == 403
    assert post({"csrf": issue_csrf_token("someone-else"), "x": "1"}).status == 403
    assert post({"csrf": good, "x": "1"}, {"Origin": "https://evil.example"}).status == 403
    assert post({"csrf": good, "x": "1"}, {"Sec-Fetch-Site": "cross-site"}).status == 403
    assert calls == []
    done = post({"csrf": good, "x": "1"})
    assert done.status == 200 and calls == [{"csrf": good, "x": "1"}]


def test_csrf_tokens_expire_and_cannot_be_altered():
    settings = get_settings()
    old = issue_csrf_token("ana", now=1_000_000)
    with pytest.raises(CsrfError, match="too old"):
        check_csrf({"csrf": old}, {}, "ana", settings, now=1_000_000 + CSRF_TTL + 1)
    check_csrf({"csrf": old}, {}, "ANA", settings, now=1_000_000 + CSRF_TTL - 1)  # names compare case-blind
    issued, _, mac = old.partition(".")
    with pytest.raises(CsrfError):
        check_csrf({"csrf": f"{int(issued) + 1}.{mac}"}, {}, "ana", settings, now=1_000_000)


def test_form_actions_live_under_actions_and_pages_never_do():
    router = Router()
    with pytest.raises(ValueError, match="actions"):
        router.post("runs/{runId}/rollback", Permission.RUN)
    with pytest.raises(ValueError, match="POST only"):
        router.get("actions/runs", Permission.READ)
    router.get("runs/{runId}")(lambda req: None)
    router.get("runs/new")(lambda req: None)
    route, params = router.match("GET", "runs/new")
    assert route.template == "runs/new" and params == {}
    assert router.match("GET", "runs/abc")[1] == {"runId": "abc"}
    assert router.match("GET", "runs/abc/extra") is None


def test_an_unexpected_error_is_a_500_page_without_detail(scratch_routes):
    def broken(req):
        raise RuntimeError("secret detail")
    scratch_routes.get("scratch/broken")(broken)
    response = _run(dispatch.handle("GET", "/scratch/broken", {}, b"", {}))
    assert response.status == 500 and b"secret detail" not in response.body
    assert re.search(rb"error was logged", response.body)


def test_every_scrolling_table_box_is_keyboard_reachable():
    """A .table-wrap scrolls sideways on a narrow screen (or with a long session's data); keyboard users must be
    able to scroll it (axe-core's scrollable-region-focusable, found by the tenants browser test)."""

    templates = Path(dispatch.__file__).parent / "templates"
    boxes = [(p.name, tag) for p in templates.rglob("*.html")
             for tag in re.findall(r"<div[^>]*class=\"table-wrap\"[^>]*>", p.read_text())]
    assert boxes
    assert [(name, tag) for name, tag in boxes if 'tabindex="0"' not in tag or "aria-label=" not in tag] == []


def _filled(template: str) -> str:
    return "/" + "/".join("x1" if _PARAM.match(segment) else segment for segment in template.split("/"))


def test_every_console_action_is_role_checked_and_needs_this_principals_token(app_devhost, scratch_routes):
    """Every registered form action: none is open to a reader, none runs without the signed-in principal's CSRF
    token, a principal without its role gets a 403 naming the role, one with it reaches the handler. Pages that
    need more than reading are refused to a reader the same way. (app_devhost: its environment, in which the
    principal header is trusted as App Service authentication's, and the signing key CSRF tokens derive from.)"""
    actions = [r for r in ROUTER.routes if r.method == "POST"]
    assert len(actions) >= 10 and [r.template for r in actions if r.permission is Permission.READ] == []
    reached: list[str] = []
    ROUTER.routes[:] = [replace(r, handler=lambda req, t=r.template: reached.append(t) or ConsoleResponse(200, b"ok"))
                        for r in ROUTER.routes]
    reader_name, reader = "reader@yourmsp.example", principal_header("PLAYBOOKS_READ", name="reader@yourmsp.example")
    for route in ROUTER.routes:
        path, roles = _filled(route.template), sorted(r.value for r in GRANTS[route.permission])
        holder = principal_header(*roles, name="holder@yourmsp.example")
        form = {"csrf": issue_csrf_token("holder@yourmsp.example")}
        body = urlencode(form).encode() if route.method == "POST" else b""
        if route.method == "POST":
            unsigned = _run(dispatch.handle("POST", path, {}, b"x=1", holder))
            assert unsigned.status == 403 and b"security token" in unsigned.body, route.template
            someone_elses = urlencode({"csrf": issue_csrf_token(reader_name)}).encode()
            foreign = _run(dispatch.handle("POST", path, {}, someone_elses, holder))
            assert foreign.status == 403 and b"not valid for you" in foreign.body, route.template
        if route.permission is not Permission.READ:
            as_reader = {"csrf": issue_csrf_token(reader_name)} if route.method == "POST" else {}
            refused = _run(dispatch.handle(route.method, path, {}, urlencode(as_reader).encode(), reader))
            assert refused.status == 403 and roles[0].encode() in refused.body, route.template
        assert reached == [], route.template
        allowed = _run(dispatch.handle(route.method, path, {}, body, holder))
        assert (allowed.status, reached) == (200, [route.template]), route.template
        reached.clear()
