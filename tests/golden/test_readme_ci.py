"""The README's "Test playbooks in CI" loop, run as a playbook repository's CI runs it: a checkout of Riposte
beside the cases (`riposte/`, here a link to this repository), each case with its playbook, alert, maybe facts,
the expected output and the expected exit code. Cases are tests/golden's, laid out the README's way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.golden.sources import ROOT

CASES = ROOT / "tests" / "golden" / "cases"
# A playbook that does not match (exit 1 expected) and a match with facts: the loop's paths, in few runs (each
# starts Python and imports the engine).
SHOWN = ("bec-first-response-medium-alert", "risky-sign-in-escalation-risk-cleared")


def readme_loop() -> str:
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.DOTALL | re.MULTILINE)
    [loop] = [b for b in blocks if "for case in cases/*/" in b]
    return loop


def repository(tmp_path: Path) -> Path:
    (tmp_path / "riposte").symlink_to(ROOT)
    for name in SHOWN:
        case = tmp_path / "cases" / name
        case.mkdir(parents=True)
        for file in ("playbook.json", "alert.json", "facts.json"):
            if (CASES / name / file).exists():
                shutil.copy(CASES / name / file, case / file)
        expected = json.loads((CASES / name / "expected.json").read_text())
        (case / "expected.json").write_text(json.dumps(expected["output"], indent=2, ensure_ascii=False) + "\n")
        (case / "expected-exit").write_text(f"{expected['exitCode']}\n")
    return tmp_path


def run_loop(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", readme_loop()], cwd=where, capture_output=True, text=True,  # noqa: S603,S607
                          timeout=300, env={"PATH": os.environ.get("PATH", "")})


def test_the_readme_ci_loop_passes_on_cases_that_hold_and_fails_on_one_that_does_not(tmp_path: Path):
    where = repository(tmp_path)
    done = run_loop(where)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {p.parent.name for p in where.glob("cases/*/got.json")} == set(SHOWN)

    (where / "cases" / SHOWN[0] / "expected-exit").write_text("0\n")  # the case now says it should match
    failed = run_loop(where)
    assert failed.returncode == 1 and f"{SHOWN[0]}/: exit 1" in failed.stdout
