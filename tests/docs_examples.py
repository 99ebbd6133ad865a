"""The shell examples of README.md and docs/*.md, read as a reader would run them, and what they say they print.

An example is a command in a ```sh or ```bash block; the `# ...` lines right after it are what it prints
(`...` stands for what is left out). Commands that span lines (a trailing backslash, a quoted JSON body over
several lines) are one command. A block fenced ```sh illustrative (a state the stack cannot reach by
itself, e.g. a template version that does not ship yet) is not read. Assignments (`S=http://...`,
`TOKEN=$(...)`) are kept for the commands after them in the same document.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = re.compile(r"^```(?:sh|bash)\n(.*?)^```", re.DOTALL | re.MULTILINE)
# `S=http://...`, `TOKEN=$(...)`, `S=...; T=...`: nothing but assignments (not `PYTHONPATH=x python ...`).
ASSIGNMENT = re.compile(r'^(?:[A-Z_][A-Z0-9_]*=(?:\$\(.*\)|"[^"]*"|[^\s;]+)\s*;?\s*)+$', re.DOTALL)
VARIABLE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")
PLACEHOLDER = re.compile(r"<([A-Za-z]+)>")
# Keys whose documented literal values are checked too (states and outcomes, not ids or times).
STATE_KEYS = frozenset({"status", "runtimeStatus", "outcome", "kind", "actionType", "code", "field", "duplicate",
                        "waitingFor", "source", "title", "acknowledged", "ok", "enabled", "name", "environment"})
KEY = re.compile(r'"([A-Za-z@][\w.@]*)"\s*:')
PAIR = re.compile(r'"([A-Za-z]\w*)"\s*:\s*("(?:[^"\\]|\\.)*"|true|false|null)')


@dataclass
class Example:
    where: str  # "README.md:123"
    command: str
    printed: list[str] = field(default_factory=list)  # the documented output lines, without "# "

    def runs(self, assigned: set[str]) -> bool:
        """A command of the local stack's API or sandbox: a curl of 127.0.0.1 or of variables the document set
        (the others: make, a CI loop, a production URL such as $RIPOSTE_API_BASE_URL)."""
        return self.command.startswith("curl ") and set(self.variables()) <= assigned and (
            "127.0.0.1:70" in self.command or bool(self.variables()))

    @property
    def is_script(self) -> bool:
        """A local Python script on the reader's stack (`.venv/bin/python - <<'PY'`): run, it must succeed."""
        return self.command.startswith(".venv/bin/python - <<")

    @property
    def is_tryout(self) -> bool:
        """`make try` / `python -m shared.tryout` on files of this repository: run offline, it must exit 0 (a match)."""
        return self.command.startswith(("make try ", ".venv/bin/python -m shared.tryout "))

    def will_run(self, assigned: set[str]) -> bool:
        """tests/test_docs_examples.py runs it (a local assignment is kept for the commands after it)."""
        return self.runs(assigned) or self.is_script or self.is_tryout or (
            self.is_assignment and self.is_local(assigned))

    def why_not_run(self, assigned: set[str]) -> str | None:
        """Why the docs test does not run it (NOT_RUN); None for a command it runs, or one nobody said why."""
        if self.will_run(assigned):
            return None
        if self.where.startswith(DEPLOYMENT_DOCUMENT) and not LOCAL.search(self.command):
            return "deploys to Azure (docs/deploy.md): no local stack command"
        return next((why for pattern, why in NOT_RUN if re.search(pattern, self.command)), None)

    def variables(self) -> list[str]:
        return VARIABLE.findall(self.command)

    @property
    def is_assignment(self) -> bool:
        return bool(ASSIGNMENT.match(self.command))

    def is_local(self, assigned: set[str]) -> bool:
        """An assignment of the local stack's address, a local token, or of variables set so."""
        variables = set(self.variables())
        return "127.0.0.1" in self.command or ".venv/bin/python" in self.command or (
            bool(variables) and variables <= assigned)

    def assigned(self) -> list[str]:
        return re.findall(r"(?:^|;\s*)([A-Z_][A-Z0-9_]*)=", self.command)

    @property
    def is_read(self) -> bool:
        """A GET: safe to repeat until what it prints is what the docs say (runs finish, pollers poll)."""
        words = shlex.split(self.command, comments=True)
        return "|" not in words and not any(w in ("-X", "--request", "-d", "--data") for w in words)

    def placeholders(self) -> list[str]:
        return PLACEHOLDER.findall(self.command)


# Commands the docs test does not run, each with why. Anything else in README.md or docs/*.md is run (a new kind of
# command fails tests/unit/test_docs_examples_parser.py until it is run or named here).
DEPLOYMENT_DOCUMENT = "docs/deploy.md:"
LOCAL = re.compile(r"127\.0\.0\.1|\.venv/|\bmake\b")
NOT_RUN = (
    (r"(^|[\s;$(])(az|azd) ", "a command of Azure's CLI or azd: a deployment's, not the local stack's"),
    (r"^curl .*\$\{?(RIPOSTE|WEBHOOK_URL|RUN_ID)", "a deployed app's address or token, set by the reader"),
    (r"^umask 077; \.venv/bin/python -m shared\.approvals\.tokens > /tmp/secret$",
     "makes a deployment's approval signing key for Key Vault (the next command); tests/approvals test the key"),
    (r"^make (run|test)\b", "starts the stack or the whole suite: the test starts the stack itself (devhost.stack)"),
    (r"^(node_modules/\.bin/azurite |\.venv/bin/python -m (sandbox|devhost)( |$)|cp local\.settings\.json\.example )",
     "starts a server by hand ('Run the devhost alone'): the test starts the same stack with devhost.stack; "
     "tests/devhost/test_settings_example.py holds the example settings to the stack's"),
    (r"^export (GRAPH_BASE_URL|GRAPH_AUTH_MODE)=", "the app's settings for the sandbox: local.settings.json.example"),
    (r"^sleep \d+$", "a pause for the reader"),
    (r"^for case in cases/\*/; do", "a playbook repository's CI loop: tests/golden/test_readme_ci.py runs it"),
)


def _complete(text: str) -> bool:
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the JSON body goes on
        return False
    return True


HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
OPENS = re.compile(r"(?:^|;|&&|\|\|)\s*(?:for|while|until|if)\s")
CLOSES = re.compile(r"(?:^|;)\s*(?:done|fi)\b")


def examples(path: Path, root: Path) -> list[Example]:
    """Every command of the document's shell blocks, in order, with the lines it is said to print. A here-document
    (`<<'PY'` ... `PY`) and a loop or `if` (`for ...; do` ... `done`) are one command with their lines."""
    found: list[Example] = []
    text = path.read_text()
    for block in BLOCK.finditer(text):
        first_line = text.count("\n", 0, block.start(1)) + 1
        pending: list[str] = []
        heredoc: str | None = None  # the word that ends the here-document being read
        start = first_line
        depth = 0  # loops and ifs open
        for offset, line in enumerate(block.group(1).splitlines()):
            if heredoc is not None:
                pending.append(line)
                if line.strip() == heredoc:
                    heredoc = None
                    if depth == 0:
                        found.append(Example(f"{path.relative_to(root)}:{start}", "\n".join(pending).strip()))
                        pending = []
                continue
            if not pending and line.startswith("#"):
                if found and found[-1].where.startswith(f"{path.relative_to(root)}:"):
                    found[-1].printed.append(line[1:].strip())
                continue
            if not pending and not line.strip():
                continue
            if not pending:
                start = first_line + offset
            pending.append(line)
            code = line.split(" #", 1)[0]
            depth += len(OPENS.findall(code)) - len(CLOSES.findall(code))
            if match := HEREDOC.search(code):
                heredoc = match.group(2)
                continue
            joined = "\n".join(pending)
            if depth <= 0 and _complete(joined):
                found.append(Example(f"{path.relative_to(root)}:{start}", joined.strip()))
                pending, depth = [], 0
    return found


# --- what the docs say is printed ------------------------------------------------------------------------
@dataclass
class Printed:
    status: int | None  # an HTTP status shown (`HTTP/1.1 201 Created`)
    headers: list[str]  # header names shown
    keys: set[str]  # JSON keys shown
    pairs: set[tuple[str, Any]]  # (key, literal value) shown for STATE_KEYS
    bare_status: bool = False  # "202 {...}": a status `curl -s` does not print

    @classmethod
    def of(cls, lines: list[str]) -> Printed:
        status, headers, body, bare = None, [], [], False
        for line in lines:
            if re.match(r"\d{3} [{\[]", line):
                bare = True
            if m := re.match(r"HTTP/\d(?:\.\d)? (\d{3})", line):
                status = int(m.group(1))
            elif m := re.match(r"([A-Za-z-]+): \S", line):
                headers.append(m.group(1))
            else:
                body.append(line)
        text = "\n".join(body)
        pairs = set()
        for key, raw in PAIR.findall(text):
            value = json.loads(raw)
            if key in STATE_KEYS and not (isinstance(value, str) and ("..." in value or "<" in value)):
                pairs.add((key, value))
        return cls(status, headers, set(KEY.findall(text)), pairs, bare)


def walk(value: Any) -> tuple[set[str], set[tuple[str, Any]]]:
    """Every key, and every (key, scalar value), anywhere in a JSON document."""
    keys: set[str] = set()
    pairs: set[tuple[str, Any]] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                keys.add(k)
                if isinstance(v, dict | list):
                    stack.append(v)
                else:
                    pairs.add((k, v))
        elif isinstance(item, list):
            stack.extend(item)
    return keys, pairs


def mismatches(printed: Printed, status: int | None, headers: dict[str, str], body: Any) -> list[str]:
    """What the docs say is printed that was not: an empty list when the example holds."""
    wrong = ["shows a status before the body, which curl -s does not print"] if printed.bare_status else []
    if printed.status is not None and status != printed.status:
        wrong.append(f"status {status}, documented {printed.status}")
    lowered = {h.lower() for h in headers}
    wrong += [f"no header {h}" for h in printed.headers if h.lower() not in lowered]
    if printed.keys or printed.pairs:
        if not isinstance(body, dict | list):
            return [*wrong, f"not JSON: {str(body)[:200]!r}"]
        keys, pairs = walk(body)
        wrong += [f"no key {k!r}" for k in sorted(printed.keys - keys)]
        wrong += [f"no {k!r}: {v!r}" for k, v in sorted(printed.pairs - pairs, key=str)]
    return wrong
