"""Every template parses, every name it uses is declared, and modules are wired with the params they declare."""

import json
import re

import pytest

from tests.infra import (
    INFRA,
    MAIN,
    bicep_files,
    body,
    declared_symbols,
    module_path,
    parse,
    references,
    references_in,
)

FILES = bicep_files()
IDS = [str(p.relative_to(INFRA)) for p in FILES]


def test_the_templates_are_there():
    names = {str(p.relative_to(INFRA)) for p in FILES}
    assert {"main.bicep", "app/function-app.bicep", "app/rbac.bicep", "app/auth.bicep"} <= names


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_reference_is_declared(path):
    refs, local = references(path)
    declared = set().union(*declared_symbols(path).values()) | local
    assert refs - declared == set(), f"{path.name} uses names it does not declare"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_parameter_variable_and_existing_resource_is_used(path):
    refs, _ = references(path)
    symbols = declared_symbols(path)
    existing = {s for s, r in parse(path).get("resources", {}).items() if r["existing"]}
    assert symbols["parameters"] - refs == set(), f"{path.name} declares parameters it never uses"
    assert symbols["variables"] - refs == set(), f"{path.name} declares variables it never uses"
    assert existing - refs == set(), f"{path.name} looks up resources it never uses"


def _module_calls():
    for path in FILES:
        for symbol, module in parse(path).get("modules", {}).items():
            yield pytest.param(path, module, id=f"{path.name}:{symbol}")


@pytest.mark.parametrize(("path", "module"), list(_module_calls()))
def test_modules_get_exactly_the_params_they_declare(path, module):
    target = module_path(path, module)
    assert target.is_file(), f"{path.name} calls a module that does not exist: {target}"
    declared = parse(target).get("parameters", {})
    passed = set(body(module).get("params", {}))
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert passed - set(declared) == set(), f"{target.name} does not declare these params"
    assert required - passed == set(), f"{target.name} needs these params"


def test_every_module_is_used():
    called = {module_path(path, m) for path in FILES for m in parse(path).get("modules", {}).values()}
    assert set(FILES) - called == {MAIN}, "a module nobody calls is dead code"


def test_main_parameters_come_from_the_azd_environment():
    declared = parse(MAIN)["parameters"]
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert set(given) - set(declared) == set(), "main.parameters.json sets parameters main.bicep lacks"
    assert required - set(given) == set(), "main.parameters.json must provide every required parameter"
    for name, entry in given.items():
        assert re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*\}", entry["value"]), f"{name} must come from an azd env variable"
    assert given["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert given["location"]["value"] == "${AZURE_LOCATION}"
    assert given["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def test_main_deploys_at_subscription_scope_into_its_own_resource_group():
    doc = parse(MAIN)
    assert doc["globals"]["scope"]["value"] == "subscription"
    groups = [r for r in doc["resources"].values() if r["type"] == "Microsoft.Resources/resourceGroups"]
    assert len(groups) == 1
    assert body(groups[0])["tags"] == "tags"
    assert doc["variables"]["tags"]["value"]["'azd-env-name'"] == "environmentName"


# The reference scanner is what the two tests above stand on: check that it sees what it must.
def test_the_scanner_finds_undeclared_names_and_ignores_keys_properties_and_strings():
    refs, local = references_in(
        "param used string\n"
        "var v = {\n  key: used\n  'quoted-key': '${other.prop}-suffix'\n}\n"
        "resource r 'Microsoft.X/y@2024-01-01' = [for item in list: {\n  name: item.name\n}]\n"
        "// comment: ghost\n"
        "output o string = cond ? yes : no\n"
    )
    assert refs == {"used", "other", "list", "item", "cond", "yes", "no"}
    assert local == {"item"}  # declared by the loop, so `item.name` is not an undeclared name
