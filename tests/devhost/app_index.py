"""The indexed function set of function_app, as the Functions worker sees it, in a form to compare.

`python -m tests.devhost.app_index > tests/devhost/function_index.json` rewrites the snapshot that
test_app_structure.py compares against: do it when a change adds, removes or rebinds a function on
purpose, and review the diff (names, bindings, routes, auth levels).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import azure.durable_functions as df
import azure.functions as func


def indexed_functions() -> dict[str, Any]:
    """Every function of function_app: its bindings (raw, as sent to the host) and whether it is async."""
    import function_app  # lazy: function_app imports the whole app: only when the index is built

    # A fresh DFApp with the same blueprints and default auth level: get_functions() may be called once per
    # app object, and a running devhost may own function_app.app's call.
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return {
        fn.get_function_name(): {
            "bindings": sorted((json.loads(raw) for raw in fn.get_raw_bindings()),
                               key=lambda b: (b.get("type", ""), b.get("name", ""))),
            "http": fn.is_http_function(),
        }
        for fn in app.get_functions()
    }


def user_functions() -> dict[str, Any]:
    import function_app  # lazy: function_app imports the whole app: only when the index is built

    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    for blueprint in function_app.BLUEPRINTS:
        app.register_functions(blueprint)
    return {fn.get_function_name(): fn.get_user_function() for fn in app.get_functions()}


if __name__ == "__main__":
    json.dump(indexed_functions(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
