"""http_request's parameters as a playbook saves them: the static origin, headers and secrets, the allow-list (a 400
naming the field when the playbook is saved) and the allow-list setting itself."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.api_model import SAVING
from shared.errors import Refused
from shared.models.playbook import PlaybookDraft
from shared.outbound_guard import host_allowed
from shared.playbook_edits import refuse_unlisted_hosts
from shared.schemas.http_request import HttpRequestParams
from shared.settings import load_settings
from shared.validation import describe

BASE = {"type": "http_request", "url": "https://reputation.example.net/ip/{{ alert.ips[0]|urlencode }}",
        "saveAs": "reputation"}


def problem(**params) -> dict[str, str]:
    body = {"name": "Enrich", "trigger": {"category": "signin"}, "actions": [BASE | params]}
    with pytest.raises(ValidationError) as caught:
        PlaybookDraft.model_validate(body, context=SAVING)
    return describe(caught.value)[0]


@pytest.mark.parametrize("url, reason", [
    ("http://reputation.example.net/ip/1", "only https URLs are allowed"),
    ("https://{{ alert.tenantId }}.example.net/ip", "scheme, host and port must be written out"),
    ("https://reputation.example.net{{ alert.title }}", "scheme, host and port must be written out"),
    ("https://key:secret@reputation.example.net/ip", "credentials must be stored as a secret"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[fe80::1]/ip", "link-local"),
    ("https://[::ffff:169.254.169.254]/ip", "link-local"),  # IPv4-mapped: judged as the IPv4 address
    ("https://0.0.0.0/ip", "unspecified"),
    ("https://2130706433/ip", "written as a number"),  # 127.0.0.1 to a resolver
    ("https://0177.0.0.1/ip", "written as a number"),  # octal
    ("https://0x7f.1/ip", "written as a number"),  # hex, short form
    ("https://reputation.example.net/{{ secrets.key }}", "unknown variable 'secrets'"),
    ("https://reputation.example.net/{% set x = 1 %}", "{% set %} is not allowed"),
])
def test_the_url_keeps_a_static_public_https_origin(url, reason):
    found = problem(url=url)
    assert found["field"] == "actions[0].url" and reason in found["reason"]


@pytest.mark.parametrize("params, field, reason", [
    ({"body": "{}"}, "actions[0]", "body is sent with method POST only"),
    ({"saveAs": "user"}, "actions[0].saveAs", "the name of the facts Riposte reads itself"),
    ({"saveAs": "Reputation"}, "actions[0].saveAs", "starts with a lower-case letter"),
    ({"headers": {"Host": "evil.example"}}, "actions[0].headers.Host", "set from the request itself"),
    ({"headers": {"X-Note": "a\r\nX-Injected: 1"}}, "actions[0].headers.X-Note", "line break"),
    ({"secretHeaders": {"X-Api-Key": "Not A Name"}}, "actions[0].secretHeaders.X-Api-Key", "secret names are"),
    ({"headers": {"x-note": "literal"}, "secretHeaders": {"X-Note": "k"}}, "actions[0]", "both in headers"),
    ({"headers": {"Authorization": "Bearer abc"}}, "actions[0].headers.Authorization", "carries a credential"),
    ({"headers": {"X-Api-Key": "abc"}}, "actions[0].headers.X-Api-Key", "name its secret in secretHeaders"),
    ({"timeoutSeconds": 31}, "actions[0].timeoutSeconds", "less than or equal to 30"),
    ({"method": "DELETE"}, "actions[0].method", "'GET' or 'POST'"),
])
def test_parameters_are_checked_with_the_field_named(params, field, reason):
    found = problem(**params)
    assert found["field"] == field and reason in found["reason"], found


def test_a_loopback_url_is_allowed_in_plain_http_as_call_webhook_allows_it():
    params = HttpRequestParams.model_validate(BASE | {"url": "http://127.0.0.1:7081/reputation/ip/{{ alert.ips[0] }}"})
    assert params.host == "127.0.0.1"


@pytest.mark.parametrize("host, allowed, expected", [
    ("reputation.example.net", {"reputation.example.net"}, True),
    ("Reputation.Example.NET", {"reputation.example.net"}, True),
    ("api.example.net", {"*.example.net"}, True),
    ("example.net", {"*.example.net"}, False),  # a wildcard covers the hosts below, not the domain itself
    ("evilexample.net", {"*.example.net"}, False),
    ("reputation.example.net", set(), False),
])
def test_host_allowed(host, allowed, expected):
    assert host_allowed(host, frozenset(allowed)) is expected


def test_saving_a_step_to_an_unlisted_host_is_refused_naming_the_field():
    draft = PlaybookDraft.model_validate({"name": "Enrich", "trigger": {"category": "signin"}, "actions": [
        {"type": "notify_email", "to": ["soc@yourmsp.example"]}, BASE]}, context=SAVING)

    refuse_unlisted_hosts(draft.actions, frozenset({"reputation.example.net"}))  # listed: saved
    with pytest.raises(Refused) as refused:
        refuse_unlisted_hosts(draft.actions, frozenset({"other.example.net"}))
    assert (refused.value.status, refused.value.field) == (400, "actions[1].url")
    assert "reputation.example.net is not on this deployment's allow-list" in refused.value.message


def test_the_allow_list_setting():
    read = load_settings({"RIPOSTE_HTTP_REQUEST_HOSTS": " API.abuseipdb.com, *.example.net ,,"})
    assert read.http_request_hosts == frozenset({"api.abuseipdb.com", "*.example.net"})
    assert load_settings({}).http_request_hosts == frozenset()  # none by default
    for bad in ("https://api.example.net", "api.example.net:443", "*", "*.net", "api.example.net/path"):
        with pytest.raises(ValidationError, match="RIPOSTE_HTTP_REQUEST_HOSTS"):
            load_settings({"RIPOSTE_HTTP_REQUEST_HOSTS": bad})


def test_saving_a_lookup_that_names_a_private_address_is_refused_even_when_allow_listed():
    # The host allow-list says which services; the private-address list says which may be inside the network.
    draft = PlaybookDraft.model_validate({"name": "Enrich", "trigger": {"category": "signin"}, "actions": [
        BASE | {"url": "https://10.0.0.8/ip/{{ alert.ips[0] }}"}]}, context=SAVING)
    with pytest.raises(Refused) as refused:
        refuse_unlisted_hosts(draft.actions, frozenset({"10.0.0.8"}))
    assert refused.value.field == "actions[0].url" and "RIPOSTE_OUTBOUND_PRIVATE_HOSTS" in refused.value.message
    refuse_unlisted_hosts(draft.actions, frozenset({"10.0.0.8"}), frozenset({"10.0.0.8"}))  # both listed: saved
