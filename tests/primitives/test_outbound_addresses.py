"""Where Riposte's outbound calls may go (shared/outbound_guard.py): call_webhook (the URL is a playbook's), Teams and
Slack (a secret's), PSA systems (a setting's) reach only public addresses, loopback and private ones only for hosts
RIPOSTE_OUTBOUND_PRIVATE_HOSTS lists, link-local (cloud metadata) never; a refused address sends nothing. Against
the sandbox through the production code; a name's resolution is the test's own (no DNS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer, chat_receivers
from sandbox.seed import CONTOSO_TENANT_ID
from shared import outbound_guard
from shared.api_model import SAVING
from shared.errors import Refused
from shared.models.playbook import PlaybookDraft
from shared.models.run import StepStatus
from shared.models.tenant import Tenant
from shared.playbook_edits import refuse_unlisted_hosts
from shared.primitives.context import StepDependencies
from shared.psa import halopsa
from shared.settings import load_settings
from tests.primitives.notify_fixtures import calls, deps, fresh, outside, run, server

__all__ = ["deps", "fresh", "outside", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh", "outside")

HOOK_PATH = f"/webhooks/{chat_receivers.WEBHOOK_NAME}"


def hook(url: str) -> dict:
    return {"type": "call_webhook", "url": url, "signingSecret": "webhook-soar"}


def resolving_to(address: str) -> Callable[[str, int], object]:
    async def resolve(host: str, port: int) -> list[str]:
        return [address]

    return resolve


@pytest.fixture
async def guarded(deps: StepDependencies) -> AsyncIterator[Callable[[str], None]]:
    """`use(address)`: the step's guarded client resolves every name to `address` (the deployment's allow-list
    as deps' settings say)."""
    made = []

    def use(address: str) -> None:
        def client(hosts: frozenset[str]):
            made.append(outbound_guard.new_client(resolving_to(address), hosts))
            return made[-1]

        deps.guarded_http = client

    yield use
    for http in made:
        await http.aclose()


def unlisted(deps: StepDependencies) -> StepDependencies:
    """Production's default: no host may be reached at a private address."""
    deps.settings = deps.settings.model_copy(update={"outbound_private_hosts": frozenset()})
    return deps


# --- call_webhook --------------------------------------------------------------------------------------
async def test_a_webhook_to_loopback_is_sent_only_when_the_deployment_lists_the_host(deps, server: SandboxServer):
    refused = await run(hook(f"{server.base_url}{HOOK_PATH}"), unlisted(deps))

    assert (refused.status, refused.error.code) == (StepStatus.FAILED, "address_not_allowed")
    assert "127.0.0.1" in refused.error.message and "RIPOSTE_OUTBOUND_PRIVATE_HOSTS" in refused.error.message
    assert calls(server.state, HOOK_PATH) == []  # nothing sent

    deps.settings = deps.settings.model_copy(update={"outbound_private_hosts": frozenset({"127.0.0.1"})})
    sent = await run(hook(f"{server.base_url}{HOOK_PATH}"), deps)
    assert sent.status is StepStatus.SUCCEEDED, sent.error


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.20", "fd00::5", "127.0.0.1", "::ffff:10.1.2.3"])
async def test_a_webhook_whose_name_resolves_inward_is_refused(deps, guarded, address):
    guarded(address)

    step = await run(hook("https://soar.yourmsp.example/hooks/riposte"), unlisted(deps))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "address_not_allowed")
    assert "soar.yourmsp.example" in step.error.message


async def test_a_listed_host_still_never_reaches_the_metadata_endpoint(deps, guarded):
    deps.settings = deps.settings.model_copy(update={"outbound_private_hosts": frozenset({"*.yourmsp.example"})})
    guarded("169.254.169.254")  # DNS rebinding to the cloud metadata endpoint

    step = await run(hook("https://soar.yourmsp.example/hooks/riposte"), deps)

    assert (step.status, step.error.code) == (StepStatus.FAILED, "address_not_allowed")
    assert "link-local" in step.error.message


@pytest.mark.parametrize("url, reason", [
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://[::ffff:169.254.169.254]/hook", "link-local"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://2130706433/hook", "written as a number"),
    ("https://0177.0.0.1/hook", "written as a number"),
    ("https://0x7f000001/hook", "written as a number"),
])
def test_a_webhook_url_no_deployment_may_reach_is_refused_by_the_schema(url, reason):
    with pytest.raises(ValidationError, match=reason):
        PlaybookDraft.model_validate({"name": "Hook", "trigger": {"category": "signin"}, "actions": [hook(url)]},
                                     context=SAVING)


@pytest.mark.parametrize("url, host", [
    ("https://10.0.0.8/hook", "10.0.0.8"), ("http://127.0.0.1:9000/hook", "127.0.0.1"),
    ("http://localhost:9000/x", "localhost"), ("https://[fd00::8]/hook", "fd00::8"),
    ("https://100.64.0.1/hook", "100.64.0.1"),  # shared address space (carrier-grade NAT)
])
def test_saving_a_webhook_to_a_private_address_is_refused_naming_the_field(url, host):
    draft = PlaybookDraft.model_validate({"name": "Hook", "trigger": {"category": "signin"}, "actions": [
        {"type": "notify_email", "to": ["soc@yourmsp.example"]}, hook(url)]}, context=SAVING)

    with pytest.raises(Refused) as refused:
        refuse_unlisted_hosts(draft.actions, frozenset())
    assert (refused.value.status, refused.value.field) == (400, "actions[1].url")
    assert "RIPOSTE_OUTBOUND_PRIVATE_HOSTS" in refused.value.message
    refuse_unlisted_hosts(draft.actions, frozenset(), frozenset({host}))  # listed: saved


# --- chat and PSA: the URL is a secret's or a setting's ----------------------------------------------------
@pytest.mark.parametrize("action", [{"type": "post_teams", "webhookSecret": "teams-soc"},
                                    {"type": "post_slack", "webhookSecret": "slack-soc"}])
async def test_a_chat_webhook_secret_pointing_inward_is_refused(deps, server: SandboxServer, action):
    step = await run(action, unlisted(deps))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "address_not_allowed")
    assert action["webhookSecret"] in step.error.message
    assert [c for c in server.state.calls.list() if c["method"] == "POST"] == []


async def test_a_psa_url_pointing_inward_is_refused(deps, server: SandboxServer):
    halopsa._TOKENS.clear()
    mapping = {"system": "halopsa", "companyId": 12, "boardId": 21}
    tenant = Tenant.model_validate({"id": CONTOSO_TENANT_ID, "name": "Contoso Demo", "psa": mapping})

    async def lookup(tenant_id: str) -> Tenant | None:
        return tenant

    deps.tenants = lookup
    step = await run({"type": "create_psa_ticket"}, unlisted(deps))

    assert (step.status, step.error.code) == (StepStatus.FAILED, "address_not_allowed")
    assert "HaloPSA" in step.error.message
    assert calls(server.state, "/halopsa/") == []  # not even the token request


def test_the_private_hosts_setting():
    assert load_settings({}).outbound_private_hosts == frozenset()  # production's default: none
    read = load_settings({"RIPOSTE_OUTBOUND_PRIVATE_HOSTS": " 127.0.0.1, PSA.corp.example ,::1,"})
    assert read.outbound_private_hosts == frozenset({"127.0.0.1", "psa.corp.example", "::1"})
    for bad in ("http://127.0.0.1", "127.0.0.1:7081", "*", "psa.corp.example/api"):
        with pytest.raises(ValidationError, match="RIPOSTE_OUTBOUND_PRIVATE_HOSTS"):
            load_settings({"RIPOSTE_OUTBOUND_PRIVATE_HOSTS": bad})
