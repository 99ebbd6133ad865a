"""Reading infra/ for the structure tests: Bicep through pycep-parser, plus a small lexer for references.

Bicep cannot be compiled on the project's machines, so these tests parse the templates and check what a
careful reviewer would: declarations, wiring between modules, hardening flags, identity-only access and
the app settings the code reads. `az bicep build` and `azd provision --preview` stay the full check
(docs/deploy.md).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
FUNCTION_APP = INFRA / "app" / "function-app.bicep"

# Bicep keywords and namespaces: never references to a declaration.
KEYWORDS = frozenset({
    "param", "var", "resource", "module", "output", "targetScope", "existing", "if", "for", "in", "true",
    "false", "null", "import", "type", "func", "metadata", "extension", "using", "with", "as", "from",
    "provider", "sys", "az",
})
DECLARING = frozenset({"param", "var", "resource", "module", "output", "type", "func", "metadata"})
# Set by azd itself in every environment, not by a template output.
AZD_VARIABLES = frozenset({"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID", "AZURE_PRINCIPAL_ID"})


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def _parser() -> BicepParser:
    return BicepParser()


@cache
def parse(path: Path) -> dict[str, Any]:
    """pycep's JSON for one template (identifiers and string literals both come out as plain strings)."""
    return _parser().parse(file_path=path)


def resources(path: Path) -> dict[str, dict[str, Any]]:
    return parse(path).get("resources", {})


def all_resources(resource_type: str) -> list[tuple[Path, str, dict[str, Any]]]:
    """(file, symbolic name, resource) for every declared (not `existing`) resource of the type."""
    found = []
    for path in bicep_files():
        for symbol, res in resources(path).items():
            if res["type"].lower() == resource_type.lower() and not res["existing"]:
                found.append((path, symbol, res))
    return found


def body(res: dict[str, Any]) -> dict[str, Any]:
    """A resource's object, seen through a loop or a deploy condition."""
    config = res["config"]
    return config["config"] if "condition" in config and "config" in config else config


def expr(value: Any) -> str:
    """A pycep expression as Bicep-like text, enough to compare wiring (`identity.outputs.clientId`)."""
    if not isinstance(value, dict):
        return json.dumps(value) if not isinstance(value, str) else value
    if "operator" in value:
        op = value["operator"]
        if op["type"] == "property_accessor":
            return f"{expr(op['operands']['operand_1'])}.{expr(op['operands']['operand_2'])}"
        return f"{op['type']}({', '.join(expr(v) for v in op['operands'].values())})"
    if "function" in value:
        fn = value["function"]
        args = ", ".join(expr(v) for v in fn.get("parameters", {}).values() if v is not None)
        return f"{fn['type']}({args})"
    return json.dumps(value, sort_keys=True)


# --- A small lexer: which identifiers a template references -------------------------------------------

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _tokens(text: str) -> list[str]:
    """Identifiers and punctuation, with comments and string literals dropped but the expressions
    inside `${...}` kept. Newlines are tokens (object keys start a line)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text.startswith("'''", i):
            i = text.index("'''", i + 3) + 3
        elif c == "'":
            i = _string(text, i + 1, out)
        elif c == "\n":
            out.append("\n")
            i += 1
        elif c.isspace():
            i += 1
        elif m := _IDENT.match(text, i):
            out.append(m.group())
            i = m.end()
        elif text.startswith("::", i) or text.startswith("=>", i) or text.startswith(".?", i):
            out.append(text[i:i + 2])
            i += 2
        else:
            out.append(c)
            i += 1
    return out


def _string(text: str, i: int, out: list[str]) -> int:
    """Skip a '...' literal starting after its quote; tokenize its interpolations into `out`."""
    while text[i] != "'":
        if text[i] == "\\":
            i += 2
        elif text.startswith("${", i):
            depth, j = 1, i + 2
            while depth:  # find the matching brace, stepping over nested strings
                if text[j] == "'":
                    j = _string(text, j + 1, [])
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            out.append("(")
            out.extend(_tokens(text[i + 2:j - 1]))
            out.append(")")
            i = j
        else:
            i += 1
    return i + 1


def references(path: Path) -> tuple[set[str], set[str]]:
    return references_in(path.read_text(encoding="utf-8"))


def references_in(text: str) -> tuple[set[str], set[str]]:
    """(identifiers referenced, local names declared by loops and lambdas) in Bicep source."""
    toks = _tokens(text)
    refs: set[str] = set()
    local: set[str] = set()
    skip = 0
    prev = ""  # the previous token that is not a newline
    for k, tok in enumerate(toks):
        prev_raw = toks[k - 1] if k else "\n"
        if k and prev_raw != "\n":
            prev = prev_raw
        if skip:
            skip -= 1
            continue
        if not _IDENT.fullmatch(tok) or (tok in KEYWORDS and tok not in DECLARING):
            continue
        nxt = toks[k + 1] if k + 1 < len(toks) else ""
        if tok in DECLARING and prev_raw == "\n" and nxt != ":":
            skip = 2 if tok in ("param", "output") else 1  # `param name type`: neither is a reference
        elif prev == "for" or (prev == "(" and toks[k - 2:k] == ["for", "("]) \
                or (prev == "," and toks[k - 4:k - 2] == ["for", "("]) or nxt == "=>":
            local.add(tok)  # `for item in`, `for (item, index) in`, `item => ...`
        elif prev in (".", ".?", "::", "@") or nxt == "(":
            continue  # a property, nested resource, decorator or function name
        elif nxt == ":" and prev_raw in ("\n", "{", ","):
            continue  # an object key
        else:
            refs.add(tok)
    return refs, local


def declared_symbols(path: Path) -> dict[str, set[str]]:
    doc = parse(path)
    return {
        "parameters": set(doc.get("parameters", {})),
        "variables": set(doc.get("variables", {})),
        "resources": {s for s in doc.get("resources", {}) if "__" not in s},
        "modules": set(doc.get("modules", {})),
    }


def module_path(path: Path, module: dict[str, Any]) -> Path:
    return (path.parent / module["detail"]["path"]).resolve()


def app_settings() -> dict[str, Any]:
    """The function app's fixed settings: the `appSettings` object of the `appsettings` config resource
    (merged there with `secretReferences`, the playbook secrets named at deploy time)."""
    doc = parse(FUNCTION_APP)
    configs = [body(r) for r in doc["resources"].values()
               if r["type"] == "Microsoft.Web/sites/config" and body(r)["name"] == "appsettings"]
    assert len(configs) == 1, "function-app.bicep needs exactly one sites/config 'appsettings' resource"
    assert configs[0]["properties"] == {
        "function": {"type": "union", "parameters": {"arg_1": "appSettings", "arg_2": "secretReferences"}}
    }, "the appsettings resource must be union(appSettings, secretReferences)"
    return doc["variables"]["appSettings"]["value"]
