"""local.settings.json.example is what "run the devhost alone" needs: every setting the local stack gives the app
(devhost/stack.py), with the stack's default ports, and development keys that load."""

from __future__ import annotations

import base64
import json

from devhost.settings_file import load_local_settings
from devhost.stack import LocalStack
from shared.approvals.tokens import load_signing_key
from shared.settings import load_settings
from tests.conftest import ROOT

EXAMPLE = ROOT / "local.settings.json.example"
# New each `make run` in the stack; fixed development values in the example.
STACK_KEYS = ("RIPOSTE_SECRET_GRAPH_NOTIFICATION_KEY", "RIPOSTE_SECRET_PASSWORD_REVEAL_KEY",
              "RIPOSTE_SECRET_APPROVAL_SIGNING_KEY")


def test_the_example_has_every_setting_the_stack_gives_the_app():
    values = json.loads(EXAMPLE.read_text())["Values"]
    stack = LocalStack().app_environment()
    missing = sorted(set(stack) - set(values))
    assert not missing, f"add to local.settings.json.example: {missing}"
    differ = sorted(k for k in stack if k not in STACK_KEYS and values[k] != stack[k])
    assert not differ, f"local.settings.json.example differs from devhost/stack.py on {differ}"
    for key in STACK_KEYS:
        assert len(base64.b64decode(values[key], validate=True)) == 32, key


def test_the_example_configures_approvals_exchange_and_links(tmp_path):
    env: dict[str, str] = {}
    load_local_settings(EXAMPLE, env)
    settings = load_settings(env)
    assert settings.public_base_url == "http://127.0.0.1:7071"
    assert settings.exchange_base_url == "http://127.0.0.1:7081"  # the sandbox plays Exchange Online's admin API
    assert len(load_signing_key(env)) == 32  # approval links can be signed
