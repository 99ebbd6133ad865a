"""What an http_request step saves (`facts.<saveAs>`) reaches the conditions and the templates after it, in the pure
interpreter and the condition check; a failed or skipped lookup reads as null, as documented (docs/enrichment.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.api_model import SAVING
from shared.expressions import compile_expression
from shared.flow.conditions import check, expression_env
from shared.interpreter import commands as cmd
from shared.interpreter import events as ev
from shared.models.playbook import PlaybookDraft
from shared.primitives.context import AlertContext, RunContext
from shared.templates import render, template_context
from tests.interpreter.script import ALERT, NOTIFY, RUN, drive, in_turn

LOOKUP = {"type": "http_request", "method": "GET", "url": "https://reputation.example.net/ip/{{ alert.ips[0] }}",
          "headers": {}, "secretHeaders": {"X-Api-Key": "reputation-api-key"}, "body": None, "saveAs": "reputation",
          "timeoutSeconds": 10}
HIGH_SCORE = {"type": "condition", "if": "facts.reputation.score > 80", "whenFalse": "stop", "skip": 1}
ANSWER = {"ip": "203.0.113.66", "score": 92, "country": "RU"}


def looked_up(status: str = "succeeded", facts: dict | None = None):
    result = {"method": "GET", "saveAs": "reputation"} | ({"facts": facts} if facts is not None else {})
    return lambda c, now: ev.StepFinished(now=now, step={"index": c.index, "actionType": c.action["type"],
                                                         "status": status, "result": result})


def notified(c, now):
    return ev.StepFinished(now=now, step={"index": c.index, "actionType": c.action["type"], "status": "succeeded",
                                          "result": {}})


def evaluated(command: cmd.ReadFacts, now):
    """The condition check's own evaluation (no Graph root is read, so no Graph call is needed)."""
    env = expression_env(AlertContext.model_validate(ALERT), command.steps, command.run_facts, command.facts)
    return ev.FactsRead(now=now, checked={"holds": compile_expression(command.expression).evaluate(env), "facts": {}})


def test_a_saved_answer_reaches_the_condition_and_the_next_steps_template():
    trace = drive([LOOKUP, HIGH_SCORE, NOTIFY], {cmd.RunPrimitive: in_turn(looked_up(facts=ANSWER), notified),
                                                 cmd.ReadFacts: evaluated})

    (read,) = trace.of(cmd.ReadFacts)
    assert read.facts == {"reputation": ANSWER}  # only the names the expression reads
    assert trace.statuses() == ["succeeded", "succeeded", "succeeded"]
    _, notify = trace.of(cmd.RunPrimitive)
    context = template_context(AlertContext.model_validate(notify.alert), RunContext.model_validate(RUN), "")
    text = render("Score {{ facts.reputation.score }} ({{ facts.reputation.country }})", context, 100).text
    assert text == "Score 92 (RU)"


def test_a_failed_lookup_reads_as_null_so_the_condition_does_not_hold():
    trace = drive([LOOKUP, HIGH_SCORE, NOTIFY], {cmd.RunPrimitive: looked_up("failed"), cmd.ReadFacts: evaluated})

    (read,) = trace.of(cmd.ReadFacts)
    assert read.facts == {"reputation": None}
    assert trace.statuses() == ["failed", "succeeded", "skipped"]  # the run went on to the check, which stopped it


def test_a_later_failed_lookup_does_not_leave_the_earlier_answer_in_place():
    again = [LOOKUP, LOOKUP, HIGH_SCORE]
    trace = drive(again, {cmd.RunPrimitive: in_turn(looked_up(facts=ANSWER), looked_up("failed")),
                          cmd.ReadFacts: evaluated})
    assert trace.of(cmd.ReadFacts)[0].facts == {"reputation": None}


def test_a_template_reads_a_lookup_that_did_not_run_as_null_not_as_undefined():
    skip_it = {"type": "condition", "if": "alert.severity == 'low'", "whenFalse": "skip", "skip": 1}
    trace = drive([skip_it, LOOKUP, NOTIFY], {cmd.RunPrimitive: notified})

    (notify,) = trace.of(cmd.RunPrimitive)
    assert notify.alert["facts"]["reputation"] is None
    context = template_context(AlertContext.model_validate(notify.alert), RunContext.model_validate(RUN), "")
    text = render("{% if facts.reputation %}{{ facts.reputation.score }}{% else %}no score{% endif %}", context, 100)
    assert text.text == "no score"


def test_a_playbook_without_lookups_hands_its_steps_the_alert_as_before():
    trace = drive([NOTIFY], {cmd.RunPrimitive: notified})
    assert trace.of(cmd.RunPrimitive)[0].alert is None


async def test_the_condition_check_reads_saved_facts_without_a_graph_call():
    alert = AlertContext.model_validate(ALERT)
    held = await check("facts.reputation.score > 80 and facts.reputation.country in ['RU', 'CN']", alert, [], {},
                       deps=None, saved={"reputation": ANSWER})
    assert held["holds"] is True
    missing = await check("facts.reputation.score > 80", alert, [], {}, deps=None, saved={"reputation": None})
    assert missing["holds"] is False
    negated = await check("not (facts.reputation.score > 80)", alert, [], {}, deps=None, saved=None)
    assert negated["holds"] is True  # a missing fact is null: the comparison is false, its negation true


# --- saving -------------------------------------------------------------------------------------------------
def draft(*actions: dict) -> dict:
    return {"name": "Enrich", "trigger": {"category": "signin"}, "actions": list(actions)}


def test_a_condition_may_read_only_facts_an_earlier_step_saves():
    PlaybookDraft.model_validate(draft(LOOKUP, HIGH_SCORE, NOTIFY), context=SAVING)
    with pytest.raises(ValidationError, match=r"actions\[0\] reads facts.reputation, which no http_request step"):
        PlaybookDraft.model_validate(draft(HIGH_SCORE, LOOKUP, NOTIFY), context=SAVING)


@pytest.mark.parametrize("expression, message", [
    ("facts.user.isAdmin", "'facts.user' is read as 'user'"),
    ("facts.device.compliant", "'facts.device' is read as 'device'"),
])
def test_graph_facts_are_read_by_their_own_names(expression, message):
    with pytest.raises(ValidationError, match=message):
        PlaybookDraft.model_validate(draft(LOOKUP, HIGH_SCORE | {"if": expression}, NOTIFY), context=SAVING)
