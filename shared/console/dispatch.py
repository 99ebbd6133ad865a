"""The frame every console request runs in: static files, sign-in, role, CSRF, the page, and error pages.

Never raises: an unexpected error is logged with the path and answered with a 500 page that shows no detail.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import mimetypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from shared.auth import GRANTS, AuthError, resolve_principal
from shared.console import pages  # noqa: F401  (registers every page in ROUTER)
from shared.console.render import page
from shared.console.routing import ROUTER
from shared.console.security import SECURITY_HEADERS, CsrfError, check_csrf, issue_csrf_token
from shared.console.web import ConsoleRequest, ConsoleResponse
from shared.errors import Refused
from shared.ids import InvalidId
from shared.settings import get_settings
from shared.store.directory import NotFound

log = logging.getLogger("riposte.console")
STATIC = Path(__file__).parent / "static"
MAX_FORM_BYTES = 256 * 1024
_STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else {}


def _static(name: str) -> ConsoleResponse:
    file = _STATIC_FILES.get(name)  # only files shipped in static/: no path from the URL reaches the disk
    if file is None:
        return ConsoleResponse(404, b"not found", "text/plain; charset=utf-8", dict(SECURITY_HEADERS))
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type == "application/javascript":
        content_type += "; charset=utf-8"
    headers = dict(SECURITY_HEADERS) | {"Cache-Control": "public, max-age=300"}
    return ConsoleResponse(200, file.read_bytes(), content_type, headers)


def _error_page(req: ConsoleRequest | None, status: int, title: str, message: str) -> ConsoleResponse:
    if req is None:
        body = f"{status} {title}: {message}".encode()
        return ConsoleResponse(status, body, "text/plain; charset=utf-8", dict(SECURITY_HEADERS))
    return page(req, "error.html", status=status, title=title, message=message)


def _api_not_found() -> ConsoleResponse:
    body = b'{"error": {"code": "not_found", "message": "No API route here."}}'
    return ConsoleResponse(404, body, "application/json", {})


def _sign_in(path: str) -> ConsoleResponse:
    """No principal: on Azure, App Service authentication signs the technician in and brings them back."""
    target = quote("/" + path, safe="/")
    return ConsoleResponse(302, b"", headers={"Location": f"/.auth/login/aad?post_login_redirect_uri={target}",
                                              **SECURITY_HEADERS})


def _form(body: bytes) -> dict[str, str]:
    if len(body) > MAX_FORM_BYTES:
        raise Refused(413, "too_large", "The form is too large.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500))
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "invalid_form", "The form could not be read.") from None


async def handle(method: str, path: str, params: Mapping[str, str], body: bytes,
                 headers: Mapping[str, str], durable_client: Any = None) -> ConsoleResponse:
    path = path.strip("/")
    try:
        return await _handle(method.upper(), path, params, body, headers, durable_client)
    except Exception:
        log.exception("console.error path=/%s method=%s", path, method)
        return _error_page(None, 500, "Something went wrong", "The error was logged.")


async def _handle(method: str, path: str, params: Mapping[str, str], body: bytes,
                  headers: Mapping[str, str], durable_client: Any) -> ConsoleResponse:
    if path == "api" or path.startswith("api/"):
        return _api_not_found()  # an API path no API function serves: JSON, not a page
    if method == "GET" and path.startswith("static/"):
        return _static(path.removeprefix("static/"))
    settings = get_settings()
    try:
        principal = resolve_principal(headers, settings)
    except AuthError:
        return _sign_in(path) if method == "GET" else _error_page(None, 401, "Sign in first", "No signed-in user.")
    req = ConsoleRequest(method, path, params, {}, headers, principal, csrf_token=issue_csrf_token(principal.name))
    found = ROUTER.match(method, path)
    if found is None:
        if ROUTER.path_exists(path):
            return _error_page(req, 405, "Not allowed", f"{method} is not allowed here.")
        return _error_page(req, 404, "Not found", "There is no page here.")
    route, route_params = found
    if not principal.may(route.permission):
        needed = " or ".join(sorted(r.value for r in GRANTS[route.permission]))
        return _error_page(req, 403, "Not allowed", f"This needs the {needed} role.")
    try:
        form = _form(body) if method == "POST" else {}
        if method == "POST":
            check_csrf(form, headers, principal.name, settings)
        req = ConsoleRequest(method, path, params, form, headers, principal, route_params, req.csrf_token,
                             durable_client)
        if inspect.iscoroutinefunction(route.handler):
            return await route.handler(req)
        return await asyncio.to_thread(route.handler, req)
    except CsrfError as exc:
        return _error_page(req, 403, "Refused", str(exc))
    except Refused as exc:
        return _error_page(req, exc.status, "Refused", exc.message)
    except InvalidId as exc:
        return _error_page(req, 400, "Bad address", f"{exc.field} {exc.reason}.")
    except NotFound:
        return _error_page(req, 404, "Not found", "It does not exist (any more).")
