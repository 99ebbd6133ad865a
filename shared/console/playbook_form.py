"""The playbook editor's form: a few structured fields plus a JSON document of the rest, turned into the API's
PATCH body, and the API's validation problems (field paths such as `actions[1].to[0]`) put back at the field or
the document line they concern."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.models.playbook import Playbook
from shared.models.subject import DevicePlatform, UserType

# A validation path -> the form field that edits it; every other path is in the JSON document.
STRUCTURED = {"name": "name", "description": "description", "trigger.category": "category",
              "trigger.minSeverity": "minSeverity", "trigger.titleRegex": "titleRegex",
              "trigger.reevaluateOnSeverityIncrease": "reevaluateOnSeverityIncrease",
              "trigger.userTypes": "userTypes", "trigger.devicePlatforms": "devicePlatforms",
              "acknowledgeBroadTrigger": "acknowledgeBroadTrigger"}
DOCUMENT = "document"
DOCUMENT_KEYS = ("trigger", "actions", "approvalPolicy")
_TRIGGER_FIELDS = ("category", "minSeverity", "titleRegex", "reevaluateOnSeverityIncrease", "userTypes",
                   "devicePlatforms")
# One checkbox per value (a form keeps one value per name): "userType-admin", "devicePlatform-macOS", ...
USER_TYPE_BOXES = {f"userType-{t.value}": t.value for t in UserType}
PLATFORM_BOXES = {f"devicePlatform-{p.value}": p.value for p in DevicePlatform}
_CHECKBOXES = ("reevaluateOnSeverityIncrease", *USER_TYPE_BOXES, *PLATFORM_BOXES)
_LAST_PART = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")


@dataclass
class EditorState:
    """What the editor shows: the field values, and the problems at each field and document line."""

    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)  # form field -> messages
    line_errors: dict[int, list[str]] = field(default_factory=dict)  # document line (1-based) -> messages
    summary: list[tuple[str, str]] = field(default_factory=list)  # (form field, "path: reason")

    @property
    def lines(self) -> list[str]:
        return self.values.get(DOCUMENT, "").split("\n")


def pretty_with_lines(value: Any) -> tuple[str, dict[str, int]]:
    """`json.dumps(value, indent=2)` and the line (1-based) where each path (`actions[0].to`) starts."""
    lines: list[str] = []
    where: dict[str, int] = {}

    def emit(item: Any, path: str, indent: int, prefix: str, suffix: str) -> None:
        where.setdefault(path, len(lines) + 1)
        pad = "  " * indent
        if isinstance(item, dict) and item:
            lines.append(f"{pad}{prefix}{{")
            for i, (key, child) in enumerate(item.items()):
                emit(child, f"{path}.{key}" if path else str(key), indent + 1,
                     json.dumps(str(key), ensure_ascii=False) + ": ", "," if i < len(item) - 1 else "")
            lines.append(f"{pad}}}{suffix}")
        elif isinstance(item, list) and item:
            lines.append(f"{pad}{prefix}[")
            for i, child in enumerate(item):
                emit(child, f"{path}[{i}]", indent + 1, "", "," if i < len(item) - 1 else "")
            lines.append(f"{pad}]{suffix}")
        else:
            lines.append(f"{pad}{prefix}{json.dumps(item, ensure_ascii=False)}{suffix}")

    emit(value, "", 0, "", "")
    return "\n".join(lines), where


def line_of(path: str, where: Mapping[str, int]) -> int:
    """The document line of `path`, or of its nearest parent there (a missing field: the object it belongs in)."""
    while path:
        if path in where:
            return where[path]
        shorter = _LAST_PART.sub("", path)
        if shorter == path:
            break
        path = shorter
    return 1


def document_of(playbook: Playbook) -> dict[str, Any]:
    data = playbook.model_dump(mode="json", by_alias=True)
    trigger = {k: v for k, v in data["trigger"].items() if k not in _TRIGGER_FIELDS}
    return {"trigger": trigger, "actions": data["actions"], "approvalPolicy": data.get("approvalPolicy")}


def values_of(playbook: Playbook) -> dict[str, str]:
    """The editor's fields for a stored playbook."""
    trigger = playbook.trigger
    ticked = {str(v) for v in (trigger.user_types or []) + (trigger.device_platforms or [])}
    boxes = {name: "on" if value in ticked else "" for name, value in (USER_TYPE_BOXES | PLATFORM_BOXES).items()}
    return {"name": playbook.name, "description": playbook.description, "category": trigger.category or "",
            "minSeverity": trigger.min_severity.value, "titleRegex": trigger.title_regex or "",
            "reevaluateOnSeverityIncrease": "on" if trigger.reevaluate_on_severity_increase else "", **boxes,
            "acknowledgeBroadTrigger": "on" if playbook.acknowledge_broad_trigger else "",
            DOCUMENT: pretty_with_lines(document_of(playbook))[0], "etag": f'"v{playbook.version}"'}


def read_form(form: Mapping[str, str]) -> tuple[dict[str, Any] | None, EditorState]:
    """The PATCH body the form says (None when the document is not a JSON object), and the editor's state."""
    values = {name: form.get(name, "") for name in (*STRUCTURED.values(), *_CHECKBOXES, DOCUMENT, "etag")}
    state = EditorState(values)
    try:
        document = json.loads(values[DOCUMENT])
    except json.JSONDecodeError as exc:
        state.errors[DOCUMENT] = [f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."]
        state.line_errors[exc.lineno] = [exc.msg]
        state.summary.append((DOCUMENT, f"document: not valid JSON at line {exc.lineno}: {exc.msg}"))
        return None, state
    if not isinstance(document, dict):
        add_problems(state, [("(body)", "the document is a JSON object: {\"trigger\": ..., \"actions\": [...]}")])
        return None, state
    values[DOCUMENT], _ = pretty_with_lines(document)  # problems are shown by line: number them as shown
    unknown = [key for key in document if key not in DOCUMENT_KEYS]
    if unknown:
        add_problems(state, [(key, "is not edited here: the document holds " + ", ".join(DOCUMENT_KEYS)
                              + " (the other fields are above it)") for key in unknown], in_document=True)
        return None, state
    trigger = document.get("trigger", {})
    if isinstance(trigger, dict):
        trigger = trigger | {"category": values["category"].strip() or None,
                             "minSeverity": values["minSeverity"] or "informational",
                             "titleRegex": values["titleRegex"] or None,
                             "reevaluateOnSeverityIncrease": values["reevaluateOnSeverityIncrease"] == "on",
                             "userTypes": _ticked(values, USER_TYPE_BOXES),
                             "devicePlatforms": _ticked(values, PLATFORM_BOXES)}
    body = {"name": values["name"], "description": values["description"], "trigger": trigger,
            "actions": document.get("actions"), "approvalPolicy": document.get("approvalPolicy"),
            "acknowledgeBroadTrigger": values["acknowledgeBroadTrigger"] == "on"}
    return body, state


def _ticked(values: Mapping[str, str], boxes: Mapping[str, str]) -> list[str] | None:
    """The values of the ticked boxes; None (any) when none is ticked."""
    return [value for name, value in boxes.items() if values.get(name) == "on"] or None


def add_problems(state: EditorState, problems: list[tuple[str, str]], in_document: bool = False) -> None:
    """Put each (path, reason) at its structured field, or at its line of the document (`in_document`: paths
    of the document itself, even where a structured field has the same name)."""
    where: dict[str, int] = {}
    try:
        where = pretty_with_lines(json.loads(state.values[DOCUMENT]))[1]
    except json.JSONDecodeError:
        pass
    for path, reason in problems:
        form_field = None if in_document else STRUCTURED.get(path)
        if form_field is not None:
            state.errors.setdefault(form_field, []).append(reason)
            state.summary.append((form_field, f"{path}: {reason}"))
            continue
        line = line_of(path, where)
        shown = path if path != "(body)" else "document"
        state.errors.setdefault(DOCUMENT, []).append(f"Line {line}, {shown}: {reason}")
        state.line_errors.setdefault(line, []).append(f"{shown}: {reason}")
        state.summary.append((DOCUMENT, f"{shown} (line {line}): {reason}"))
