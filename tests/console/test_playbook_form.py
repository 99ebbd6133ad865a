"""The editor's form: the PATCH body it makes, and each validation path mapped to its field or document line."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.console.playbook_form import add_problems, line_of, pretty_with_lines, read_form, values_of
from shared.models.playbook import Playbook


def test_pretty_with_lines_is_json_dumps_and_knows_each_paths_line():
    value = {"trigger": {"tenantScope": {"type": "all"}}, "actions": [{"type": "notify_email", "to": ["a@b.c"]}],
             "approvalPolicy": None, "empty": [], "none": {}, "text": "é"}
    text, where = pretty_with_lines(value)
    assert text == json.dumps(value, indent=2, ensure_ascii=False)
    lines = text.split("\n")
    assert lines[where["actions[0].to[0]"] - 1].strip() == '"a@b.c"'
    assert lines[where["trigger.tenantScope"] - 1].strip() == '"tenantScope": {'
    # A field that is not there (missing, or misspelt) points at the object it belongs in.
    assert line_of("actions[0].subject", where) == where["actions[0]"]
    assert line_of("trigger.tenantScope.tenantId", where) == where["trigger.tenantScope"]
    assert line_of("nothing.at.all", where) == 1


def _form(**changes: str) -> dict[str, str]:
    document = {"trigger": {"tenantScope": {"type": "all"}}, "actions": [{"type": "notify_email", "to": ["a@b.c"]}]}
    return {"name": "P", "description": "", "category": "", "minSeverity": "high", "titleRegex": "x",
            "acknowledgeBroadTrigger": "", "document": json.dumps(document), "etag": '"v1"'} | changes


def test_the_form_becomes_the_apis_patch_body():
    body, state = read_form(_form(category=" Security ", titleRegex=""))
    assert body == {"name": "P", "description": "", "acknowledgeBroadTrigger": False,
                    "trigger": {"tenantScope": {"type": "all"}, "category": "Security", "minSeverity": "high",
                                "titleRegex": None, "reevaluateOnSeverityIncrease": False, "userTypes": None,
                                "devicePlatforms": None},
                    "actions": [{"type": "notify_email", "to": ["a@b.c"]}], "approvalPolicy": None}
    assert state.values["document"].startswith('{\n  "trigger": {')  # shown numbered as problems refer to it


def test_problems_go_to_their_field_or_line():
    _, state = read_form(_form())
    add_problems(state, [("trigger.titleRegex", "bad pattern"), ("actions[0].to[0]", "not an address"),
                         ("trigger", "too broad")])
    assert state.errors["titleRegex"] == ["bad pattern"]
    to_line = state.lines.index('        "a@b.c"') + 1
    assert state.line_errors[to_line] == ["actions[0].to[0]: not an address"]
    assert state.line_errors[2] == ["trigger: too broad"]
    assert f"Line {to_line}, actions[0].to[0]: not an address" in state.errors["document"]


def test_a_document_that_is_not_json_or_holds_other_fields_is_refused_at_its_line():
    body, state = read_form(_form(document='{\n  "actions": [,\n}'))
    assert body is None and state.line_errors == {2: ["Expecting value"]}
    body, state = read_form(_form(document='{"name": "sneaky", "actions": []}'))
    assert body is None and "name" not in state.errors
    assert state.errors["document"][0].startswith("Line 2, name: is not edited here")


def test_the_trigger_options_are_checkboxes_and_leave_the_document():


    body, _ = read_form(_form(**{"reevaluateOnSeverityIncrease": "on", "userType-admin": "on", "userType-guest": "on",
                                 "devicePlatform-macOS": "on"}))
    assert {k: body["trigger"][k] for k in ("reevaluateOnSeverityIncrease", "userTypes", "devicePlatforms")} == {
        "reevaluateOnSeverityIncrease": True, "userTypes": ["admin", "guest"], "devicePlatforms": ["macOS"]}
    now = datetime(2026, 12, 4, tzinfo=UTC)
    stored = Playbook.model_validate({
        "id": "p", "version": 3, "createdAt": now, "updatedAt": now, "name": "P", "actions": [{"type": "disable_user"}],
        "trigger": {"userTypes": ["member"], "devicePlatforms": ["iOS", "android"],
                    "reevaluateOnSeverityIncrease": True}})
    values = values_of(stored)
    ticked = sorted(name for name, value in values.items() if value == "on")
    assert ticked == ["devicePlatform-android", "devicePlatform-iOS", "reevaluateOnSeverityIncrease", "userType-member"]
    document = json.loads(values["document"])["trigger"]
    assert not {"userTypes", "devicePlatforms", "reevaluateOnSeverityIncrease"} & set(document)  # edited above it
    again, _ = read_form(values)  # the stored playbook's own form saves what it holds
    assert (again["trigger"]["userTypes"], again["trigger"]["devicePlatforms"]) == (["member"], ["iOS", "android"])
