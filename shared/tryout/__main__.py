"""`make try PLAYBOOK=file ALERT=file [FACTS=file]`: what a playbook would do to an alert, offline.

Prints JSON; exits 0 when the playbook matches the alert, 1 when it does not, 2 when a file is invalid
(the error names the file and the field). docs/try.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.tryout.run import INVALID, try_playbook


def _read(path: str | None, file: str) -> tuple[Any, dict[str, Any] | None]:
    if path is None:
        return None, None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")), None
    except OSError as exc:
        return None, {"error": {"file": file, "field": "", "message": f"cannot read {path}: {exc.strerror}"}}
    except ValueError as exc:
        return None, {"error": {"file": file, "field": "", "message": f"{path} is not JSON: {exc}"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make try", description=__doc__.split("\n\n")[0])
    parser.add_argument("playbook", help="a playbook body, as POST /api/playbooks takes it (JSON)")
    parser.add_argument("alert", help="an alert payload, as POST /api/alerts takes it (JSON, one alert)")
    parser.add_argument("--facts", help="what Graph and the approvers would say (JSON; docs/try.md)")
    args = parser.parse_args(argv)
    bodies = []
    for path, file in ((args.playbook, "playbook"), (args.alert, "alert"), (args.facts, "facts")):
        body, error = _read(path, file)
        if error:
            print(json.dumps(error, indent=2))
            return INVALID
        bodies.append(body)
    tried = try_playbook(*bodies)
    print(json.dumps(tried.output, indent=2, ensure_ascii=False))
    return tried.exit_code


if __name__ == "__main__":
    sys.exit(main())
