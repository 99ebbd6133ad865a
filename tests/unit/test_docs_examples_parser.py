"""tests/docs_examples.py reads the documents' commands and what they print as a reader would (no stack here:
tests/test_docs_examples.py runs them)."""

from __future__ import annotations

from pathlib import Path

from tests.docs_examples import Printed, examples, mismatches

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
