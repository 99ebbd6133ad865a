"""`make try` on golden cases: tests/golden/cases/<case>/ holds playbook.json, alert.json, maybe facts.json, and
expected.json (the exit code and the JSON printed). Every example playbook of the repository has a case.

After a deliberate change of the output: `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/golden`, then
read the diff of expected.json before committing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.tryout.__main__ import main
from shared.tryout.run import try_playbook
from tests.golden.sources import ROOT, builtin_playbooks, example_playbooks

CASES = Path(__file__).parent / "cases"


def _load(path: Path):
    return json.loads(path.read_text()) if path.exists() else None


def _case_names() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", _case_names())
def test_golden(case: str):
    folder = CASES / case
    tried = try_playbook(_load(folder / "playbook.json"), _load(folder / "alert.json"), _load(folder / "facts.json"))
    got = {"exitCode": tried.exit_code, "output": tried.output}
    expected_file = folder / "expected.json"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert got == json.loads(expected_file.read_text())


def test_every_example_playbook_has_a_golden_case():
    tried = [_load(CASES / case / "playbook.json") for case in _case_names()]
    missing = [where for where, playbook in example_playbooks().items() if playbook not in tried]
    assert not missing, f"add a case in tests/golden/cases for: {missing}"


def test_every_built_in_template_has_a_golden_case():
    """Installed live for Contoso with example recipients: a new template version needs its cases again."""
    tried = [_load(CASES / case / "playbook.json") for case in _case_names()]
    missing = [where for where, playbook in builtin_playbooks().items() if playbook not in tried]
    assert not missing, f"add a case in tests/golden/cases for: {missing}"


@pytest.mark.parametrize(("case", "code"), [("bec-first-response", 0), ("bec-first-response-medium-alert", 1),
                                            ("invalid-notify-address", 2)])
def test_the_command_prints_the_json_and_exits_with_the_decision(case: str, code: int, capsys):
    folder = CASES / case
    assert main([str(folder / "playbook.json"), str(folder / "alert.json")]) == code
    assert json.loads(capsys.readouterr().out) == json.loads((folder / "expected.json").read_text())["output"]


def test_the_module_runs_alone_and_a_file_that_is_not_json_is_invalid(tmp_path: Path):
    """`python -m shared.tryout` with no settings, no environment but PATH, from another folder."""
    bad = tmp_path / "alert.json"
    bad.write_text("{not json")
    args = [sys.executable, "-m", "shared.tryout", str(CASES / "bec-first-response" / "playbook.json"), str(bad)]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120,  # noqa: S603 - our module
                          env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["error"]["file"] == "alert"
