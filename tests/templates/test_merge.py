"""The three-way merge: template changes apply where the operator did not edit, edits stay where the template
did not change, and a field both changed is a conflict until resolved."""

from __future__ import annotations

import copy

from shared.playbook_templates.merge import three_way

BASE = {"name": "Stale", "trigger": {"minSeverity": "high", "titleRegex": None},
        "actions": [{"type": "notify_email", "to": ["soc@x.example"], "subject": "old"}, {"type": "disable_user"}]}


def _with(doc: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def test_untouched_fields_take_the_template_and_edits_stay():
    local = _with(BASE, ("actions", 0, "to"), ["desk@x.example"])
    new = _with(BASE, ("actions", 0, "subject"), "new")
    merge = three_way(BASE, local, new)
    assert merge.conflicts == []
    assert merge.result["actions"][0] == {"type": "notify_email", "to": ["desk@x.example"], "subject": "new"}
    assert {(c.field, c.outcome) for c in merge.changes} == {("actions[0].to", "local"),
                                                             ("actions[0].subject", "template")}


def test_the_same_change_on_both_sides_is_no_conflict():
    both = _with(BASE, ("trigger", "minSeverity"), "medium")
    merge = three_way(BASE, both, both)
    assert merge.conflicts == [] and merge.result == both
    assert [(c.field, c.outcome) for c in merge.changes] == [("trigger.minSeverity", "both")]


def test_different_changes_of_one_field_conflict_and_keep_the_local_value_until_resolved():
    local = _with(BASE, ("trigger", "minSeverity"), "medium")
    new = _with(BASE, ("trigger", "minSeverity"), "critical")
    merge = three_way(BASE, local, new)
    assert merge.conflicts == ["trigger.minSeverity"]
    assert merge.result["trigger"]["minSeverity"] == "medium"
    assert three_way(BASE, local, new, {"trigger.minSeverity": "template"}).result["trigger"]["minSeverity"] == \
        "critical"
    kept = three_way(BASE, local, new, {"trigger.minSeverity": "local"})
    assert kept.conflicts == [] and kept.result["trigger"]["minSeverity"] == "medium"


def test_a_list_whose_length_changed_on_both_sides_is_one_field():
    local = _with(BASE, ("actions",), [*BASE["actions"], {"type": "remove_licenses"}])
    new = _with(BASE, ("actions",), [BASE["actions"][0]])
    assert three_way(BASE, local, new).conflicts == ["actions"]
    # Only the template added a step, the operator edited a recipient: still one field, both changed it.
    local = _with(BASE, ("actions", 0, "to"), ["desk@x.example"])
    new = _with(BASE, ("actions",), [*BASE["actions"], {"type": "remove_licenses"}])
    assert three_way(BASE, local, new).conflicts == ["actions"]


def test_a_key_the_template_adds_or_drops_applies_unless_the_operator_edited_it():
    new = {k: v for k, v in BASE.items() if k != "name"} | {"description": "added"}
    merge = three_way(BASE, BASE | {"trigger": {"minSeverity": "low", "titleRegex": None}}, new)
    assert "name" not in merge.result and merge.result["description"] == "added"
    assert merge.result["trigger"]["minSeverity"] == "low"
    dropped_but_edited = three_way(BASE, BASE | {"name": "Ours"}, new)
    assert dropped_but_edited.conflicts == ["name"]
