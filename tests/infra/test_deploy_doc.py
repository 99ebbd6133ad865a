"""docs/deploy.md: its permission table is generated from the primitive catalog, and it names what operators need."""

import importlib
import json
import re

import pytest

from shared import secrets
from shared.auth import Role
from shared.primitives import permissions_doc
from shared.primitives.catalog import PRIMITIVES
from shared.psa import ADAPTERS
from shared.sources.catalog import SOURCES
from tests.infra import AZD_VARIABLES, MAIN, ROOT, app_settings, parse

DOC = ROOT / "docs" / "deploy.md"
TEXT = DOC.read_text(encoding="utf-8")


def test_the_permission_section_matches_the_primitive_catalog():
    expected = permissions_doc.replace_section(TEXT, permissions_doc.render_section())
    assert TEXT == expected, f"docs/deploy.md is stale: run `{permissions_doc.REGENERATE}`"


def test_every_primitive_and_permission_is_in_the_doc():
    for spec in PRIMITIVES.values():
        assert f"`{spec.name}`" in TEXT
        for item in (*spec.graph_permissions, *spec.directory_roles, *spec.other_permissions, *spec.azure_roles):
            assert f"`{item}`" in TEXT


def test_every_pulled_source_and_its_permissions_are_in_the_doc():

    customer = TEXT.split("- **Each customer tenant** needs:")[1].split("\n")[0]
    for spec in SOURCES.values():
        assert f"| `{spec.name.value}` |" in TEXT
        for permission in spec.graph_permissions:
            assert f"`{permission}`" in customer  # consented with the rest


def test_home_tenant_primitives_are_real_primitives():
    assert permissions_doc.HOME_TENANT_PRIMITIVES <= set(PRIMITIVES)


def test_every_non_graph_permission_names_its_api():
    # Otherwise the generated consent commands would leave it out.
    assert set(permissions_doc.other_permissions(PRIMITIVES)) <= set(permissions_doc.OTHER_APIS)


def test_replacing_needs_both_markers():
    with pytest.raises(ValueError, match="markers"):
        permissions_doc.replace_section("no markers here", "table")
    doc = f"a\n{permissions_doc.BEGIN_MARKER}\nold\n{permissions_doc.END_MARKER}\nb"
    assert permissions_doc.replace_section(doc, "new") == (
        f"a\n{permissions_doc.BEGIN_MARKER}\nnew\n{permissions_doc.END_MARKER}\nb")


def test_check_mode_reports_a_stale_doc(tmp_path, capsys):
    stale = tmp_path / "deploy.md"
    stale.write_text(f"{permissions_doc.BEGIN_MARKER}\nold table\n{permissions_doc.END_MARKER}\n")
    assert permissions_doc.main(["--check", str(stale)]) == 1
    assert permissions_doc.REGENERATE in capsys.readouterr().err
    assert permissions_doc.main(["--write", str(stale)]) == 0
    assert permissions_doc.main(["--check", str(stale)]) == 0


def test_every_parameter_an_operator_sets_is_explained():

    given = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    for entry in given.values():
        variable = entry["value"][2:-1]
        assert f"`{variable}`" in TEXT, f"docs/deploy.md must explain {variable}"


@pytest.mark.parametrize("needle", [
    "az bicep build --file infra/main.bicep",
    "azd provision --preview",
    "azd auth login",
    "azd env new",
    "azd up",
    "https://login.microsoftonline.com/{customerTenantId}/adminconsent?client_id={GRAPH_CLIENT_ID}",
    "az ad app federated-credential create",
    "api://AzureADTokenExchange",
    "infra/entra/api-app-roles.json",
    "AllowAnonymous",
    "X-Riposte-Key",
    "?code=",
    "POST /api/tenants",
    "/api/health",
    "/api/selftest",
    "common alert schema",
])
def test_the_doc_covers(needle):
    assert needle in TEXT


def test_the_doc_names_every_psa_setting_and_secret():


    for adapter in ADAPTERS.values():
        module = importlib.import_module(type(adapter).__module__)
        for name in (module.URL_SETTING, *module.SECRETS):
            assert f"`{name}`" in TEXT, f"docs/deploy.md must tell operators about {name}"


def test_the_doc_names_the_app_roles():
    for role in Role:
        assert f"`{role.value}`" in TEXT


def test_every_variable_the_doc_names_exists():
    """An output, a parameter's azd variable, an app setting, or one azd sets: no stale or invented name."""

    known = set(parse(MAIN)["outputs"]) | set(app_settings()) | AZD_VARIABLES | {"RIPOSTE_LOCAL_PRINCIPAL_ROLES"}
    given = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    known |= {entry["value"][2:-1] for entry in given.values()}
    named = set(re.findall(r"\b((?:AZURE|RIPOSTE)_[A-Z0-9_]+)\b", TEXT))
    playbook_secrets = {n for n in named if n.startswith(secrets.PREFIX) and n != "RIPOSTE_SECRET_NAMES"}
    assert named - known - playbook_secrets == set()
