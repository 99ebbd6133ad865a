"""tests/docs_examples.py reads the documents' commands and what they print as a reader would (no stack here:
tests/test_docs_examples.py runs them)."""

from __future__ import annotations

from pathlib import Path

from tests.docs_examples import Example, Printed, examples, mismatches

DOC = '''Intro.

```sh
curl -s -X POST http://127.0.0.1:7071/api/alerts -d '{"id": "a",
  "title": "x"}'
# 202 {"alerts": [{"alertId": "al-...", "duplicate": false}]}
S=http://127.0.0.1:7081/_sandbox; T=1111
curl -s -i http://127.0.0.1:7071/api/playbooks \\
  -d '{}'   # a comment
# HTTP/1.1 201 Created
# ETag: "v1"
# {"id": "...", "status": "succeeded"}
curl -s "$S/outbox" | python3 -c 'import sys
print(1)'
```

```sh illustrative
curl -s http://127.0.0.1:7071/api/playbooks/<id>/template-update
```
'''


def test_commands_their_printed_lines_and_assignments(tmp_path: Path):
    (tmp_path / "doc.md").write_text(DOC)
    alert, assignment, playbook, piped = examples(tmp_path / "doc.md", tmp_path)  # the illustrative block: not read
    assert alert.where == "doc.md:4" and alert.command.endswith('"title": "x"}\'')
    assert assignment.is_assignment and assignment.assigned() == ["S", "T"]
    assert playbook.printed == ["HTTP/1.1 201 Created", 'ETag: "v1"', '{"id": "...", "status": "succeeded"}']
    assert piped.runs({"S"}) and not piped.runs(set()) and not piped.is_read
    assert not alert.is_read and playbook.runs(set())

    shown = Printed.of(playbook.printed)
    assert (shown.status, shown.headers, shown.keys, shown.pairs) == (201, ["ETag"], {"id", "status"},
                                                                        {("status", "succeeded")})
    assert mismatches(shown, 201, {"etag": '"v1"'}, {"id": "p1", "status": "succeeded"}) == []
    assert mismatches(shown, 200, {}, {"id": "p1", "status": "failed"}) == [
        "status 200, documented 201", "no header ETag", "no 'status': 'succeeded'"]
    assert mismatches(Printed.of(alert.printed), None, {}, {"alerts": [{"alertId": "al-1", "duplicate": False}]}) == [
        "shows a status before the body, which curl -s does not print"]


SCRIPTS = """```sh
.venv/bin/python - <<'PY'
import json
# a comment of the script, not a printed line
print(json.dumps({"ok": True}))
PY
# {"ok": true}
for case in cases/*/; do
  echo "$case"
done
make run
```
"""


def test_a_here_document_and_a_loop_are_one_command_each(tmp_path: Path):
    (tmp_path / "doc.md").write_text(SCRIPTS)
    script, loop, run = examples(tmp_path / "doc.md", tmp_path)
    assert script.command.endswith("\nPY") and script.printed == ['{"ok": true}'] and script.is_script
    assert loop.command.splitlines()[-1] == "done" and loop.where == "doc.md:8"
    assert script.will_run(set()) and not loop.will_run(set())
    assert "CI loop" in loop.why_not_run(set()) and "starts the stack" in run.why_not_run(set())


def test_every_documented_command_is_run_or_says_why_not():
    """A command the docs test would skip without a reason (a new kind of example) fails here: run it there, or
    name it in NOT_RUN with why."""
    root = Path(__file__).resolve().parents[2]
    unexplained, ran = [], 0
    for document in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        assigned: set[str] = set()
        for example in examples(document, root):
            runs = example.will_run(assigned)
            if example.is_assignment and runs:
                assigned |= set(example.assigned())
            ran += runs
            if not runs and example.why_not_run(assigned) is None:
                unexplained.append(f"{example.where}: {example.command[:80]}")
    assert unexplained == []
    assert ran >= 90


def test_an_unknown_local_command_has_no_reason_not_to_run():
    unknown = Example("doc.md:1", ".venv/bin/python -m shared.selftest --tenant x")
    assert not unknown.will_run(set()) and unknown.why_not_run(set()) is None
    assert Example("docs/deploy.md:1", "azd up").why_not_run(set()).startswith("deploys to Azure")
    assert Example("docs/deploy.md:1", "make try PLAYBOOK=a ALERT=b").will_run(set())
