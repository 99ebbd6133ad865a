"""The process's sync table client reads proxy settings from the environment only when a proxy is configured."""

from __future__ import annotations

import uuid

import pytest
import requests.sessions

from shared.settings import AppSettings
from shared.storage import create_table_service


@pytest.mark.parametrize("proxy", [None, "http://127.0.0.1:9"])
def test_table_requests_scan_the_environment_only_when_a_proxy_is_configured(azurite_connection_string,
                                                                            monkeypatch, proxy):
    # requests, trusting the environment, scans it for proxies and .netrc on every request; the pollers'
    # and activities' table calls paid it each time. A configured proxy is still honoured (NO_PROXY: Azurite).
    for setting in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(setting, raising=False)
    if proxy is not None:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    lookups = []
    real = requests.sessions.get_environ_proxies

    def counted(url, no_proxy=None):
        lookups.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    service = create_table_service(AppSettings(storage_connection_string=azurite_connection_string))

    service.create_table(f"t{uuid.uuid4().hex[:12]}")

    assert (lookups == []) is (proxy is None)
