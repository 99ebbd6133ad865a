"""The process keeps one Graph client factory (per Graph settings): each step used to build a new one, and with it a
new HTTP client, new connection pools and, in Azure, a new credential, so a new Entra ID token per step."""

from __future__ import annotations

from shared import services


def test_every_call_gets_the_same_factory(monkeypatch):
    monkeypatch.setenv("GRAPH_BASE_URL", "http://127.0.0.1:9/v1.0")
    monkeypatch.setenv("GRAPH_AUTH_MODE", "local_token")
    first = services.graph_factory()
    assert services.graph_factory() is first


def test_other_graph_settings_get_their_own_factory(monkeypatch):
    monkeypatch.setenv("GRAPH_AUTH_MODE", "local_token")
    monkeypatch.setenv("GRAPH_BASE_URL", "http://127.0.0.1:9/v1.0")
    one = services.graph_factory()
    monkeypatch.setenv("GRAPH_BASE_URL", "http://127.0.0.1:10/v1.0")
    other = services.graph_factory()
    assert other is not one and other.settings.base_url == "http://127.0.0.1:10/v1.0"
