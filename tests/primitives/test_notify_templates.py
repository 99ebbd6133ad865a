"""Templates in playbooks: checked at save time (400 with the field), sandboxed at run time, bounded, with
the documented fallback; notify_email renders `subject` and `body` through the production Graph client."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sandbox import SandboxServer
from shared.models.alert import Severity, UserEntity
from shared.models.playbook import PlaybookDraft
from shared.models.run import StepStatus
from shared.primitives.catalog import PRIMITIVES
from shared.primitives.context import StepDependencies
from shared.primitives.notify import MAX_BODY, NotifyEmailParams
from shared.templates import (
    TEMPLATE_VARIABLES,
    UNRESOLVED,
    TemplateRenderError,
    check_template,
    render,
    template_context,
)
from shared.validation import describe
from tests.api.helpers import bec_playbook
from tests.primitives.notify_fixtures import (
    ADELE,
    MEGAN,
    RUN,
    RUN_URL,
    SENDER,
    alert,
    context,
    deps,
    fault,
    fresh,
    run,
    server,
)

__all__ = ["deps", "fresh", "server"]  # fixtures used by name
pytestmark = pytest.mark.usefixtures("fresh")

TO = ["soc@yourmsp.example"]


def notify(**params) -> dict:
    return {"type": "notify_email", "to": TO} | params


def save_problems(action: dict) -> list[dict[str, str]]:
    """What the playbook API answers (400) for a playbook with this action, as [{field, reason}]."""
    with pytest.raises(ValidationError) as caught:
        PlaybookDraft.model_validate(bec_playbook(actions=[{"type": "disable_user"}, action]))
    return describe(caught.value)


def outbox(server: SandboxServer) -> list[dict]:
    return server.state.list_outbox()


# --- save time ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("template", "reason"), [
    ("{{ alert.title ", "template syntax error on line 1"),
    ("{{ secrets }}", "unknown variable 'secrets'"),
    ("{{ alert.__class__ }}", "attribute '__class__' is not allowed"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "only these string methods can be called"),
    ("{{ cycler.__init__.__globals__ }}", "attribute '__globals__' is not allowed"),
    ("{{ lipsum() }}", "only these string methods can be called"),
    ("{{ range(100000) }}", "only these string methods can be called"),
    ("{{ alert.title.format(alert) }}", "only these string methods can be called"),
    ("{% set x = alert %}", "{% set %} is not allowed"),
    ("{% macro m() %}{% endmacro %}", "{% macro %} is not allowed"),
    ("{% include 'x' %}", "{% include %} is not allowed"),
    ("{{ alert.title * 1000000 }}", "'*' is not allowed"),
    ("{{ '%s' % alert }}", "'%' is not allowed"),
    ("{{ alert.title|center(999999999) }}", "filter 'center' is not allowed"),
    ("{{ alert.title|format(1) }}", "filter 'format' is not allowed"),
    ("{% for a in users %}{% for b in users %}x{% endfor %}{% endfor %}", "loops cannot be nested"),
    ("{% for u in users recursive %}{{ loop(u) }}{% endfor %}", "recursive loops are not allowed"),
], ids=lambda v: v[:30] if isinstance(v, str) else v)
def test_unsafe_or_broken_templates_are_refused_at_save_naming_the_field(template, reason):
    problems = save_problems(notify(subject=template[:255], body=None))
    assert problems[0]["field"] == "actions[1].subject"
    assert reason in problems[0]["reason"]
    assert save_problems(notify(body=template))[0]["field"] == "actions[1].body"


def test_size_limits_are_part_of_the_parameter():
    assert "at most 255" in save_problems(notify(subject="s" * 256))[0]["reason"]
    assert "at most 8000" in save_problems(notify(body="b" * 8001))[0]["reason"]


def test_a_valid_template_saves_and_keeps_the_stored_shape():
    plain = NotifyEmailParams.model_validate(notify(subject="Heads up"))
    assert plain.model_dump(by_alias=True) == {"type": "notify_email", "to": TO, "subject": "Heads up"}
    templated = NotifyEmailParams.model_validate(notify(subject="[{{ alert.severity|upper }}] {{ alert.title }}",
                                                        body="{% for u in users %}{{ u.upn }}\n{% endfor %}"))
    assert templated.model_dump(by_alias=True)["body"].startswith("{% for u in users %}")
    assert check_template("{{ run.url }} {{ playbook.name }} {{ alert.ips|join(',') }}")


def test_the_documented_variables_are_the_ones_templates_get():
    variables = template_context(alert(), RUN, RUN_URL)
    assert set(variables) == set(TEMPLATE_VARIABLES)
    assert variables["run"] == {"id": RUN.run_id, "url": RUN_URL, "playbookId": RUN.playbook_id,
                                "playbookName": "BEC response", "playbookVersion": 3}
    assert variables["alert"]["users"] == variables["users"] == [
        {"id": ADELE.id, "upn": ADELE.upn, "displayName": "Adele Vance"}]


# --- run time: sandbox and bounds --------------------------------------------------------------------
def test_rendering_uses_plain_data_and_refuses_methods_of_it():
    variables = template_context(alert(), RUN, RUN_URL)
    text = render("{{ alert.title.upper() }} {{ users|map(attribute='upn')|join(', ') }} "
                  "{% for ip in alert.ips %}{{ loop.index }}:{{ ip }}{% endfor %}", variables, 500).text
    assert text == f"SUSPICIOUS INBOX FORWARDING RULE {ADELE.upn} 1:203.0.113.7"
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render("{{ alert.keys }}", variables, 500)  # a dict method: not reachable
    with pytest.raises(TemplateRenderError, match="UndefinedError"):
        render("{{ alert.titel }}", variables, 500)  # strict: a typo is an error, not an empty string


def test_an_unresolved_value_prints_visibly_and_facts_read_by_the_run_are_variables():
    guest = UserEntity(id="5e4f6a21-7c8b-4d9e-a0f1-2b3c4d5e6f70")  # named by object id only
    variables = template_context(alert(users=[guest]), RUN, RUN_URL)
    assert render("for {{ users[0].upn }} ({{ facts.user.department }})", variables, 500).text == (
        f"for {UNRESOLVED} ({UNRESOLVED})")
    assert render("{{ users[0].upn or 'n/a' }}{% if facts.user.upn %}!{% endif %}", variables, 500).text == "n/a"
    read = alert(users=[UserEntity(id=guest.id, upn="alex_fabrikam.com#EXT#@contoso")],
                 facts={"user": {"upn": "alex_fabrikam.com#EXT#@contoso", "type": "guest"}})
    variables = template_context(read, RUN, RUN_URL)
    assert render("{{ users[0].upn }} is a {{ facts.user.type }}; admin: {{ facts.user.isAdmin }}", variables,
                  500).text == f"alex_fabrikam.com#EXT#@contoso is a guest; admin: {UNRESOLVED}"


def test_output_is_cut_at_the_limit():
    variables = template_context(alert(description="x" * 20_000, users=[ADELE, MEGAN, ADELE]), RUN, RUN_URL)
    rendered = render("{% for u in users %}{{ alert.description }}{% endfor %}", variables, 30_000)
    assert rendered.truncated and len(rendered.text) == 30_000 and rendered.text.endswith("…")


# --- notify_email ------------------------------------------------------------------------------------
async def test_notify_email_renders_subject_and_body(deps: StepDependencies, server: SandboxServer):
    subject = "[{{ alert.severity|upper }}] {{ alert.title }} ({{ users|length }} user{{ 's' if users|length != 1 }})"
    body = ("Playbook {{ playbook.name }} v{{ playbook.version }} is running.\n"
            "{% for u in users %}- {{ u.displayName }} <{{ u.upn }}>\n{% endfor %}"
            "{% if alert.ips %}IPs: {{ alert.ips|join(', ') }}\n{% endif %}Run: {{ run.url }}")

    step = await run(notify(subject=subject, body=body), deps)

    assert step.status is StepStatus.SUCCEEDED, step.error
    assert "templateErrors" not in step.result
    [mail] = outbox(server)
    assert mail["from"] == SENDER and mail["to"] == TO
    assert mail["subject"] == "[HIGH] Suspicious inbox forwarding rule (1 user)"
    assert mail["body"] == {"contentType": "text", "content": (
        f"Playbook BEC response v3 is running.\n- Adele Vance <{ADELE.upn}>\nIPs: 203.0.113.7\nRun: {RUN_URL}")}
    assert step.result["subject"] == mail["subject"]


async def test_a_template_that_fails_at_run_time_falls_back_to_the_default(deps, server: SandboxServer):
    step = await run(notify(subject="{{ alert.titel }}", body="{{ alert.details.more }}"), deps)

    assert step.status is StepStatus.SUCCEEDED
    assert "titel" in step.result["templateErrors"]["subject"]
    assert "details" in step.result["templateErrors"]["body"]
    [mail] = outbox(server)
    assert mail["subject"] == "[Riposte] HIGH: Suspicious inbox forwarding rule"
    assert "Playbook: BEC response (version 3)" in mail["body"]["content"]  # the default summary


async def test_subject_is_one_line_and_body_is_bounded(deps, server: SandboxServer):
    long_alert = alert(description="y" * 15_000, users=[ADELE, MEGAN])
    step = await run(notify(subject="{{ alert.title }}\n\nBcc: attacker@evil.example",
                            body="{% for u in users %}{{ alert.description }}{% endfor %}"), deps, on=long_alert)
    step2 = await run(notify(body="{% for u in users %}{{ alert.description }}{% endfor %}{{ alert.description }}"),
                      deps, on=long_alert)

    assert step.status is step2.status is StepStatus.SUCCEEDED
    first, second = outbox(server)
    assert first["subject"] == "Suspicious inbox forwarding rule Bcc: attacker@evil.example"
    assert len(first["body"]["content"]) == 30_000
    assert len(second["body"]["content"]) == MAX_BODY and second["body"]["content"].endswith("…")


async def test_notify_email_graph_failures_are_step_errors(deps, server: SandboxServer):
    fault(server.state, method="POST", pathRegex="/sendMail$", status=403, times=1)
    forbidden = await run(notify(subject="{{ alert.title }}"), deps)
    fault(server.state, method="POST", pathRegex="/sendMail$", status=429, retryAfter=0.05, times=1)
    throttled_once = await run(notify(), deps)

    assert (forbidden.status, forbidden.error.code) == (StepStatus.FAILED, "graph_forbidden")
    assert throttled_once.status is StepStatus.SUCCEEDED
    assert len(outbox(server)) == 1


def test_describe_renders_the_subject_without_sending(deps, server: SandboxServer):
    spec = PRIMITIVES["notify_email"]
    params = spec.params.model_validate(notify(subject="{{ alert.severity }}: {{ alert.title }}"))
    text = spec.describe(params, context(deps, alert(severity=Severity.CRITICAL)))
    assert text == "Would email soc@yourmsp.example: \"critical: Suspicious inbox forwarding rule\"."
    assert outbox(server) == []
