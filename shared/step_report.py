"""What a notification says about the run so far: each completed step's outcome (status, what was done,
error), from the step records the run hands to a primitive that `reports_steps` (StepContext.steps).

Plain text, one line per step; each channel escapes it for itself (Slack `& < >`, Adaptive Card links).
"""

from __future__ import annotations

from typing import Any

MAX_DONE = 200  # characters of "what was done" per step
MAX_STEPS_TEXT = 3000  # the whole section (Slack's section limit)
_LABELS = ("upn", "userPrincipalName", "deviceName", "displayName", "name", "address", "id")
_NOISE = frozenset({"wouldDo", "destructive", "templateErrors", "attempts"})


def _value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str) and str(value).strip():
        return " ".join(str(value).split())
    if isinstance(value, list) and value and all(isinstance(v, int | float | str) for v in value):
        shown = ", ".join(str(v) for v in value[:5])
        return shown + (f" (+{len(value) - 5} more)" if len(value) > 5 else "")
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        shown = ", ".join(_item(v) for v in value[:5])
        return shown + (f" (+{len(value) - 5} more)" if len(value) > 5 else "")
    if isinstance(value, list) and value:
        return f"{len(value)} item(s)"
    return None


def _item(entry: dict[str, Any]) -> str:
    """A user, device, rule... of a step's result by its name, with whether the step changed it."""
    name = next((str(entry[k]) for k in _LABELS if isinstance(entry.get(k), str | int) and entry.get(k) != ""), "?")
    error = entry.get("error")
    if isinstance(error, dict):
        return f"{name} (error {error.get('code') or '?'})"
    if entry.get("changed") is False:
        return f"{name} (unchanged)"
    return name


def what_was_done(step: dict[str, Any]) -> str:
    """The step's result in a line: its scalar fields (and short lists) as `name: value`."""
    result = step.get("result") or {}
    if not isinstance(result, dict):
        return ""
    if step.get("status") == "simulated" and isinstance(result.get("wouldDo"), str):
        return "would: " + " ".join(result["wouldDo"].split())[:MAX_DONE]
    parts = [f"{key}: {shown}" for key, value in result.items()
             if key not in _NOISE and (shown := _value(value)) is not None]
    text = "; ".join(parts)
    return text if len(text) <= MAX_DONE else text[: MAX_DONE - 1] + "…"


def error_text(step: dict[str, Any]) -> str:
    error = step.get("error")
    if isinstance(error, dict) and (error.get("code") or error.get("message")):
        return f"{error.get('code') or 'error'}: {' '.join(str(error.get('message') or '').split())}"[:300]
    return ""


def step_line(step: dict[str, Any]) -> str:
    """`2. disable_user: succeeded (changed: yes; userId: ...)`, with the error or the skip reason."""
    index = step.get("index")
    number = index + 1 if isinstance(index, int) else "?"
    line = f"{number}. {step.get('actionType') or '?'}: {step.get('status') or '?'}"
    details = [d for d in (what_was_done(step), error_text(step), " ".join(str(step.get("reason") or "").split()))
               if d]
    return line + (f" ({' | '.join(details)})" if details else "")


def steps_text(steps: list[dict[str, Any]]) -> str:
    """The section every default notification carries; '' when no step ran before it."""
    lines: list[str] = []
    size = 0
    for n, step in enumerate(steps):
        line = step_line(step)
        if size + len(line) + 1 > MAX_STEPS_TEXT:
            lines.append(f"… and {len(steps) - n} more step(s): see the run")
            break
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def template_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`steps` as templates see it (steps[i] is step i): index, actionType, status, result, error, reason,
    and `summary` (what was done, in a line) and `line` (the step as the default text shows it)."""
    return [{"index": s.get("index"), "actionType": s.get("actionType"), "status": s.get("status"),
             "result": s.get("result") or {}, "error": s.get("error"), "reason": s.get("reason"),
             "summary": what_was_done(s), "line": step_line(s)} for s in steps]
