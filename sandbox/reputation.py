"""A fake IP reputation service, for `http_request` enrichment steps (docs/enrichment.md).

- `GET /reputation/ip/{ip}` with `X-Api-Key: <key>` -> `200 {"ip", "score" (0-100, higher is worse), "country",
  "categories", "lastSeen"}`; `401` no or wrong key; `400` not an IP address.
- `POST /reputation/lookup` `{"ips": [...]}` (at most 100) -> `200 {"results": [<as above>, ...]}`; same key.

Known addresses (`KNOWN`) have fixed answers (203.0.113.66 is a botnet address scoring 92); any other address
scores low (0-39), derived from the address, so every lookup is repeatable. Steer it through the control API:
- `PUT /_sandbox/reputation/ip/{ip}` `{"score": 95, "country": "RU", "categories": ["botnet"]}` sets an answer;
  `{"rawBody": "<html>...", "contentType": "text/html"}` makes the service answer that instead (a non-JSON or an
  oversized answer, for the failure paths);
- `GET /_sandbox/reputation/lookups` lists the lookups served (ip, method, whether the key was right).
Faults, latency and the call log apply as for every non-Graph service (sandbox/service_call.py `outside_call`): e.g.
`POST /_sandbox/faults {"pathRegex": "^/reputation/", "latencyMs": 3000}`. State is not per tenant;
`POST /_sandbox/reset` restores the known answers.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import ipaddress
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .control_routes import STATE_KEY
from .errors import GraphError
from .service_call import json_or_none, outside_call
from .state import utc_now_iso

AREA = "reputation"
web_routes = web.RouteTableDef()

API_KEY = "sandbox-reputation-key-7Qm2"  # devhost/stack.py gives Riposte this as the secret reputation-api-key
MAX_BATCH = 100
KNOWN: dict[str, dict[str, Any]] = {
    "203.0.113.66": {"score": 92, "country": "RU", "categories": ["botnet", "bruteforce"],
                     "lastSeen": "2026-12-03T22:10:00Z"},
    "198.51.100.23": {"score": 81, "country": "CN", "categories": ["scanner"], "lastSeen": "2026-12-01T08:00:00Z"},
    "192.0.2.10": {"score": 3, "country": "GB", "categories": [], "lastSeen": None},
}


@dataclass
class ReputationState:
    answers: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(KNOWN))
    lookups: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def new_service_state() -> ReputationState:
    return ReputationState()


def _state(request: web.Request) -> ReputationState:
    return request.app[STATE_KEY].services[AREA]


def _answer(state: ReputationState, ip: str) -> dict[str, Any]:
    with state.lock:
        known = state.answers.get(ip)
    if known is not None:
        return {"ip": ip} | copy.deepcopy(known)
    score = int.from_bytes(hashlib.sha256(ip.encode()).digest()[:2], "big") % 40
    return {"ip": ip, "score": score, "country": "US", "categories": [], "lastSeen": None}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _fault(err: GraphError) -> web.Response:
    return _error(err.status, err.code, err.message)


def _authorized(request: web.Request) -> bool:
    return hmac.compare_digest(request.headers.get("X-Api-Key", "").encode(), API_KEY.encode())


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _served(request: web.Request, answer: dict[str, Any]) -> web.Response:
    raw = answer.get("rawBody")
    if isinstance(raw, str):
        return web.Response(status=200, text=raw, content_type=answer.get("contentType") or "text/plain")
    return web.json_response(answer)


async def _lookup_ip(request: web.Request, raw: bytes) -> web.Response:
    state = _state(request)
    ip = _ip(request.match_info["ip"])
    authorized = _authorized(request)
    with state.lock:
        state.lookups.append({"at": utc_now_iso(), "method": "GET", "ips": [request.match_info["ip"]],
                              "authorized": authorized})
    if not authorized:
        return _error(401, "unauthorized", "A valid X-Api-Key header is required.")
    if ip is None:
        return _error(400, "invalid_ip", "Not an IP address.")
    return _served(request, _answer(state, ip))


@web_routes.get("/reputation/ip/{ip}")
async def lookup_ip(request: web.Request) -> web.Response:
    return await outside_call(request, _lookup_ip, _fault)


async def _lookup_batch(request: web.Request, raw: bytes) -> web.Response:
    state = _state(request)
    body = json_or_none(raw)
    ips = body.get("ips") if isinstance(body, dict) else None
    authorized = _authorized(request)
    with state.lock:
        state.lookups.append({"at": utc_now_iso(), "method": "POST",
                              "ips": ips if isinstance(ips, list) else None, "authorized": authorized})
    if not authorized:
        return _error(401, "unauthorized", "A valid X-Api-Key header is required.")
    if not isinstance(ips, list) or not ips or len(ips) > MAX_BATCH or not all(isinstance(i, str) for i in ips):
        return _error(400, "invalid_request", f'The body must be {{"ips": [...]}} with 1 to {MAX_BATCH} addresses.')
    parsed = [_ip(i) for i in ips]
    if None in parsed:
        return _error(400, "invalid_ip", f"Not an IP address: {ips[parsed.index(None)]}")
    return web.json_response({"results": [_answer(state, ip) for ip in parsed if ip]})


@web_routes.post("/reputation/lookup")
async def lookup_batch(request: web.Request) -> web.Response:
    return await outside_call(request, _lookup_batch, _fault)


# --- control: /_sandbox/reputation ---------------------------------------------------------------
@web_routes.put("/_sandbox/reputation/ip/{ip}")
async def set_answer(request: web.Request) -> web.Response:
    ip = _ip(request.match_info["ip"])
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    if ip is None or not isinstance(body, dict):
        return _error(400, "invalid_request", "PUT /_sandbox/reputation/ip/{ip} with a JSON object.")
    if "rawBody" in body and not isinstance(body["rawBody"], str):
        return _error(400, "invalid_request", "rawBody must be a string.")
    state = _state(request)
    with state.lock:
        state.answers[ip] = body
    return web.json_response({"ip": ip} | body)


@web_routes.get("/_sandbox/reputation/lookups")
async def list_lookups(request: web.Request) -> web.Response:
    state = _state(request)
    with state.lock:
        return web.json_response({"value": copy.deepcopy(state.lookups)})
