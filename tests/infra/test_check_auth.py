"""infra/scripts/check-auth.sh (azd postdeploy) against a local fake app: it passes only on a 401."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from shared.auth import Role, _from_easy_auth
from tests.infra import ROOT

SCRIPT = ROOT / "infra" / "scripts" / "check-auth.sh"


class FakeApp(ThreadingHTTPServer):
    """Answers each request with the next status of `statuses` (the last one repeats); records headers."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses, self.seen = statuses, []
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"


class Handler(BaseHTTPRequestHandler):
    server: FakeApp

    def do_GET(self) -> None:
        self.server.seen.append((self.path, dict(self.headers)))
        status = self.server.statuses[min(len(self.server.seen), len(self.server.statuses)) - 1]
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def fake_app(request) -> Iterator[FakeApp]:
    server = FakeApp(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_check(base_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHECK_AUTH_ATTEMPTS": "3", "CHECK_AUTH_PAUSE": "0"}
    env.pop("RIPOSTE_API_BASE_URL", None)
    return subprocess.run(["sh", str(SCRIPT), base_url], capture_output=True, text=True, env=env,  # noqa: S603, S607
                          timeout=60, check=False)


@pytest.mark.parametrize("fake_app", [[401]], indirect=True)
def test_passes_when_the_forged_principal_is_refused(fake_app):
    result = run_check(fake_app.base_url)
    assert result.returncode == 0, result.stderr
    path, headers = fake_app.seen[0]
    assert path == "/api/playbooks"
    # The forgery is one the app would honour were the platform not stripping it: every role.
    forged = _from_easy_auth(headers["X-MS-CLIENT-PRINCIPAL"])
    assert forged.roles == {r.value for r in Role}


@pytest.mark.parametrize("fake_app", [[200], [403], [404]], indirect=True)
def test_fails_when_the_app_answers_anything_else(fake_app):
    result = run_check(fake_app.base_url)
    assert result.returncode == 1
    assert "not 401" in result.stderr
    assert len(fake_app.seen) == 1


@pytest.mark.parametrize("fake_app", [[503, 502, 401]], indirect=True)
def test_waits_out_a_starting_app(fake_app):
    assert run_check(fake_app.base_url).returncode == 0
    assert len(fake_app.seen) == 3


@pytest.mark.parametrize("fake_app", [[503]], indirect=True)
def test_gives_up_on_an_app_that_never_answers(fake_app):
    result = run_check(fake_app.base_url)
    assert result.returncode == 1 and "after 3 attempts" in result.stderr


def test_the_postdeploy_hook_runs_the_check():
    hook = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]["postdeploy"]["posix"]
    assert hook["continueOnError"] is False
    script = (ROOT / hook["run"]).read_text()
    assert 'sh infra/scripts/check-auth.sh "$RIPOSTE_API_BASE_URL"' in script.splitlines()
