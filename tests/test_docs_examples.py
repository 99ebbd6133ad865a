"""Every local command of README.md and docs/*.md, run as a reader runs it against a started
stack (`python -m devhost.stack` on free ports, fresh), in the documents' order, checking what each is said to
print: the status and headers shown, every JSON key shown, and the states shown (`"status": "succeeded"`).
So the docs cannot drift from the API again (issue 17). The curls, the local scripts (`.venv/bin/python - <<'PY'`)
and `make try` are run; every other command is named, with why, in tests/docs_examples.NOT_RUN (deployment
commands, servers the stack already runs, a CI loop tests/golden/test_readme_ci.py runs).

Placeholders are what an earlier example printed: `<instanceId>` the self-test's id, `<alertId>` and `<runId>`
the last alert's (the run of the last playbook created; or the last run on an entity and its alert), `<id>` that
playbook, `<approvalId>` the gate a run waits on. A read (a GET) is repeated until it prints what the docs say, for
at most READ_PATIENCE seconds: runs finish, pollers poll. The one step done in a browser (an approver clicks
Approve on their link) is done here as the browser would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.approvals.http_helpers import CSRF_FIELD
from tests.docs_examples import Example, Printed, examples, mismatches
from tests.test_local_stack import start_stack, stop_stack

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
READ_PATIENCE = 40  # seconds a read may take to show what the docs say (the 5 s pollers, a run's steps)
STATUS_MARK = "__documented_example_status__"

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    proc, ports = start_stack()
    curl_home = tmp_path_factory.mktemp("curl")  # every plain curl also prints its status (a .curlrc)
    (curl_home / ".curlrc").write_text(f'write-out = "\\n{STATUS_MARK} %{{http_code}}\\n"\n')
    yield ports, curl_home
    stop_stack(proc)


# What `make test` exports to its children: a documented `make try` run under it would print make's
# "Entering directory" lines, which a reader running the command in a shell never sees.
MAKE_VARIABLES = frozenset({"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"})


def shell_environment() -> dict[str, str]:
    """The environment as a reader's shell has it: this process's, without make's recursion variables."""
    return {name: value for name, value in os.environ.items() if name not in MAKE_VARIABLES}


class Reader:
    """Runs a document's commands as a reader would, remembering what they printed for the placeholders."""

    def __init__(self, ports: dict[str, int], curl_home: Path):
        self.ports = ports
        self.origin = f"http://127.0.0.1:{ports['devhost']}"
        self.sandbox = f"http://127.0.0.1:{ports['sandbox']}"
        self.curl_home = curl_home
        self.values: dict[str, str] = {}
        self.env: dict[str, str] = {}  # the document's variables ($S, $TOKEN, ...)
        self.playbook_id: str | None = None

    def text(self, command: str) -> str:
        text = command.replace("http://127.0.0.1:7071", self.origin).replace("http://127.0.0.1:7081", self.sandbox)
        # A script that reaches `make run`'s default ports (StackPorts()) reaches this stack's instead.
        p, azurite = self.ports, self.ports["azurite"]
        text = text.replace("StackPorts()", f"StackPorts({p['devhost']}, {p['sandbox']}, {azurite}, {azurite + 1}, "
                                            f"{azurite + 2})")
        # The venv is installed; make would reinstall into it when requirements.txt is newer than its stamp.
        text = re.sub(r"^make try ", "make -o .venv/.deps-installed try ", text)
        for name in re.findall(r"<([A-Za-z]+)>", text):
            assert name in self.values, f"<{name}>: no earlier example printed it"
            text = text.replace(f"<{name}>", self.values[name])
        return text

    def assign(self, example: Example) -> None:
        script = self.text(example.command) + "".join(f"\nprintf '%s\\0' \"${name}\"" for name in example.assigned())
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT,  # noqa: S603,S607
                              env=shell_environment() | self.env)
        assert done.returncode == 0, f"{example.where}: {done.stderr}"
        self.env |= dict(zip(example.assigned(), done.stdout.split("\0"), strict=False))

    def run(self, example: Example) -> tuple[int | None, dict[str, str], Any]:
        piped = "|" in example.command
        env = shell_environment() | self.env | ({} if piped else {"CURL_HOME": str(self.curl_home)})
        done = subprocess.run(["bash", "-c", self.text(example.command)], capture_output=True, text=True,  # noqa: S603,S607
                              timeout=60, cwd=ROOT, env=env)
        assert done.returncode == 0, f"{example.where}: exit {done.returncode}: {done.stderr}"
        out, status, headers = done.stdout, None, {}
        if STATUS_MARK in out:
            out, _, code = out.rpartition(STATUS_MARK)
            status = int(code.strip())
        if re.match(r"HTTP/\d", out):
            head, _, out = out.replace("\r\n", "\n").partition("\n\n")
            status = int(head.split()[1])
            headers = dict(line.split(": ", 1) for line in head.splitlines()[1:] if ": " in line)
        try:
            body: Any = json.loads(out)
        except ValueError:
            body = out
        return status, headers, body

    def remember(self, body: Any) -> None:
        if not isinstance(body, dict):
            return
        if "statusQueryGetUri" in body:
            self.values["instanceId"] = body["id"]
        if body.get("version") == 1 and "actions" in body:  # a playbook just created
            self.playbook_id = self.values["id"] = body["id"]
        if isinstance(body.get("alerts"), list) and body["alerts"]:
            first = body["alerts"][0]
            self.values["alertId"] = first["alertId"]
            runs = first.get("runIds") or []
            mine = [r for r in runs if self.playbook_id and r.endswith(self.playbook_id)]
            if mine or runs:
                self.values["runId"] = (mine or runs)[0]
        if "entity" in body and "runId" in body:  # a run on an entity: its run and the alert that records it
            self.values["runId"], self.values["alertId"] = body["runId"], body["alertId"]
        if isinstance(body.get("waiting"), dict) and body["waiting"].get("approvalId"):
            self.values["approvalId"] = body["waiting"]["approvalId"]

    def approve_by_link(self, approver: str) -> None:
        """What the README has the reader do in a browser: open the approver's mailed link, press Approve."""
        outbox = httpx.get(f"{self.sandbox}/_sandbox/outbox").json()["value"]
        links = [link for m in outbox if approver in str(m["to"]) for link in
                 re.findall(r"http://\S+/respond\?token=\S+", m["body"]["content"])]
        assert links, f"no approval link mailed to {approver}"
        page = httpx.get(links[-1])
        assert page.status_code == 200, page.text
        cookie = page.headers["set-cookie"].split(";")[0]
        token = httpx.URL(links[-1]).params["token"]
        form = {"token": token, "csrf": CSRF_FIELD.search(page.text).group(1), "decision": "approve"}
        decided = httpx.post(links[-1].split("?")[0], data=form, headers={
            "Cookie": cookie, "Origin": self.origin, "Sec-Fetch-Site": "same-origin"})
        assert decided.status_code == 200 and "Decision recorded" in decided.text, decided.text


# Steps the README has the reader do by hand before a command: (document, command's start) -> what to do.
BY_HAND = {("README.md", "curl -s http://127.0.0.1:7071/api/approvals?status=pending"):
           lambda reader: reader.approve_by_link("tech1@yourmsp.com.au")}


def test_the_documented_commands_print_what_the_docs_say(stack):
    reader = Reader(*stack)
    ran = 0
    for document in DOCUMENTS:
        assigned: set[str] = set()
        reader.env = {}
        for example in examples(ROOT / document, ROOT):
            if example.is_assignment:
                if not example.is_local(assigned):  # e.g. WEBHOOK_URL=$(infra/scripts/...): a deployment's
                    continue
                reader.assign(example)
                assigned |= set(example.assigned())
                continue
            if not example.will_run(assigned):  # each with its reason: tests/docs_examples.NOT_RUN
                continue
            for (doc, start), step in BY_HAND.items():
                if doc == document and example.command.startswith(start):
                    step(reader)
            printed = Printed.of(example.printed)
            is_read = example.command.startswith("curl ") and example.is_read
            deadline = time.monotonic() + (READ_PATIENCE if is_read else 0)
            while True:
                status, headers, body = reader.run(example)
                wrong = mismatches(printed, status, headers, body)
                if status is not None and status >= 400 and printed.status is None and "error" not in printed.keys:
                    wrong.append(f"status {status}: {str(body)[:300]}")
                if not wrong or time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
            assert not wrong, f"{example.where}: {example.command[:120]!r}: {wrong}; printed {str(body)[:600]}"
            reader.remember(body)
            ran += 1
    print(f"ran {ran} documented commands")
    assert ran >= 40  # the examples were found and run, not skipped
