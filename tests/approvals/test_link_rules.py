"""The link's request rules, without HTTP: the cookie, cross-site signals, the client address."""

from __future__ import annotations

import pytest

from shared.approvals import link
from shared.approvals.decisions import client_address, user_agent
from shared.settings import AppSettings

HTTPS = AppSettings(public_base_url="https://riposte.yourmsp.example")
HTTP = AppSettings(public_base_url="http://127.0.0.1:7071")


def test_the_cookie_is_host_bound_and_secure_behind_https():
    header = link.set_cookie_header(HTTPS, "v")
    assert header == "__Host-riposte-approval-csrf=v; Path=/; HttpOnly; SameSite=Strict; Secure"
    assert link.set_cookie_header(HTTP, "v") == "riposte-approval-csrf=v; Path=/; HttpOnly; SameSite=Strict"
    assert link.read_cookie({"Cookie": "a=1; __Host-riposte-approval-csrf=v; b=2"}, link.cookie_name(HTTPS)) == "v"
    assert link.read_cookie({"Cookie": "riposte-approval-csrf=v"}, link.cookie_name(HTTPS)) is None


@pytest.mark.parametrize(("headers", "refused"), [
    ({}, False),
    ({"Origin": "https://riposte.yourmsp.example"}, False),
    ({"origin": "HTTPS://Riposte.YourMSP.example"}, False),
    ({"Sec-Fetch-Site": "same-origin"}, False),
    ({"Sec-Fetch-Site": "none"}, False),  # typed or pasted into the address bar
    ({"Sec-Fetch-Site": "cross-site"}, True),
    ({"Sec-Fetch-Site": "same-site", "Origin": "https://other.yourmsp.example"}, True),
    ({"Origin": "https://riposte.yourmsp.example.evil.example"}, True),
    ({"Origin": "http://riposte.yourmsp.example"}, True),
    ({"Origin": "null"}, True),
])
def test_cross_site_requests(headers, refused):
    assert link.cross_site(headers, HTTPS) is refused


@pytest.mark.parametrize(("headers", "address"), [
    ({"X-Forwarded-For": "203.0.113.5:50123, 10.0.0.1"}, "203.0.113.5"),
    ({"X-Forwarded-For": "203.0.113.5"}, "203.0.113.5"),
    ({"x-forwarded-for": "[2001:db8::7]:443"}, "2001:db8::7"),
    ({"X-Forwarded-For": "2001:db8::8"}, "2001:db8::8"),
    ({"X-Forwarded-For": "<script>", "X-Client-IP": "198.51.100.1"}, "198.51.100.1"),
    ({"X-Forwarded-For": "not an address"}, None),
    ({}, None),
])
def test_client_address(headers, address):
    assert client_address(headers) == address


def test_user_agent_is_bounded_and_printable():
    assert user_agent({"User-Agent": "a\x00b" + "c" * 400}) == ("ab" + "c" * 400)[:300]
    assert user_agent({}) is None
