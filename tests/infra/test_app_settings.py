"""The app settings the code reads are in the template, with production values and identity-based connections.

Settings are collected from the code itself, so a new setting without infra fails here.
"""

import ast
import json
import re

import pytest

from shared import secrets
from shared.ingest_credentials import CREDENTIAL_KEY_SECRET
from shared.notifications.client_state import KEY_NAME
from tests.infra import FUNCTION_APP, MAIN, ROOT, app_settings, expr, parse

CODE = [ROOT / "function_app.py", *sorted(p for d in ("shared", "triggers", "activities", "orchestrations")
                                          for p in (ROOT / d).rglob("*.py"))]

# Read by the code, deliberately absent from production, and why.
NOT_IN_AZURE = {
    "AzureWebJobsStorage": "a connection string, for Azurite only; Azure uses AzureWebJobsStorage__* identity settings",
    "RIPOSTE_LOCAL_PRINCIPAL_ROLES": "development stand-in for App Service authentication",
    "RIPOSTE_LOCAL_PRINCIPAL_NAME": "development stand-in for App Service authentication",
    "GRAPH_CERTIFICATE_PATH": "certificate mode; production uses the federated managed identity",
    "WEBSITE_AUTH_ENABLED": "set by App Service itself when its authentication is on (infra/app/auth.bicep)",
    "WEBSITE_INSTANCE_ID": "set by App Service on each instance (names who holds a poll's claim)",
    "RIPOSTE_SOURCES_ON_REGISTER_SECONDS": "the local stack polls the sandbox tenants at once; in Azure, PUT sources",
}


def _string_constants(tree):
    return {t.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for t in node.targets if isinstance(t, ast.Name)}


def _is_environment(node):
    """`env`, `environ`, `os.environ` (the names the code uses for the settings mapping)."""
    return (isinstance(node, ast.Name) and node.id in {"env", "environ"}) or \
        (isinstance(node, ast.Attribute) and node.attr == "environ")


def settings_read_by_code():
    """Names in env.get("X"), env["X"], os.getenv("X") (module constants resolved), and every module
    constant named *_SETTING (settings read through a helper, such as a PSA's base URL)."""
    names = set()
    for path in CODE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _string_constants(tree)
        names |= {value for name, value in constants.items() if name.endswith("_SETTING")}

        def name_of(node, constants=constants):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            return constants.get(node.id) if isinstance(node, ast.Name) else None

        for node in ast.walk(tree):
            key = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
                if node.func.attr == "get" and _is_environment(node.func.value):
                    key = name_of(node.args[0])
                elif node.func.attr == "getenv":
                    key = name_of(node.args[0])
            elif isinstance(node, ast.Subscript) and _is_environment(node.value):
                key = name_of(node.slice)
            if key:
                names.add(key)
    return names


def binding_connections():
    """`connection="X"` on trigger and binding decorators: the host reads X or X__*."""
    found = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "connection" and isinstance(node.value, ast.Constant):
                found.add(node.value.value)
    return found


def test_the_collector_sees_the_settings_we_know_of():
    # Guards the collector itself: were it to find nothing, the next test would pass vacuously.
    assert {"RIPOSTE_TASK_HUB", "GRAPH_CLIENT_ID", "RIPOSTE_INGEST_SECRETS", "AzureWebJobsStorage__tableServiceUri",
            "RIPOSTE_LOCAL_PRINCIPAL_ROLES", "RIPOSTE_HALOPSA_URL"} <= settings_read_by_code()


def test_every_setting_the_code_reads_is_in_the_template():
    missing = settings_read_by_code() - set(NOT_IN_AZURE) - set(app_settings())
    assert missing == set(), f"add these to infra/app/function-app.bicep (appSettings): {sorted(missing)}"


def test_development_only_settings_stay_out_of_production():
    assert set(NOT_IN_AZURE) & set(app_settings()) == set()


def test_host_json_settings_exist():
    host = (ROOT / "host.json").read_text()
    assert set(re.findall(r"%([A-Za-z0-9_]+)%", host)) <= set(app_settings())
    assert json.loads(host)["extensions"]["durableTask"]["hubName"] == "%RIPOSTE_TASK_HUB%"


@pytest.mark.parametrize("connection", sorted(binding_connections() | {"AzureWebJobsStorage", "ServiceBus"}))
def test_connections_are_identity_based(connection):
    settings = app_settings()
    assert connection not in settings, f"{connection} would be a connection string"
    assert settings[f"{connection}__credential"] == "managedidentity"
    assert settings[f"{connection}__clientId"] == "identityClientId"
    assert any(key.startswith(f"{connection}__") and key.endswith(("ServiceUri", "fullyQualifiedNamespace"))
               for key in settings)


def test_no_setting_holds_a_connection_string_or_key():
    for key, value in app_settings().items():
        if key == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            # Endpoints and an id, not a secret: local auth is off, so ingestion needs the Entra token below.
            assert expr(value) == "appInsights.properties.ConnectionString"
            continue
        assert not re.search(r"connection|password|secret|key$", key, re.IGNORECASE) or key in {
            "RIPOSTE_INGEST_SECRETS", "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID"}, key


def test_production_values():
    s = app_settings()
    assert s["RIPOSTE_ENVIRONMENT"] == "production"
    assert s["GRAPH_AUTH_MODE"] == "federated_managed_identity"
    assert s["GRAPH_CLIENT_ID"] == "graphClientId"
    assert s["GRAPH_MANAGED_IDENTITY_CLIENT_ID"] == "identityClientId"
    assert s["RIPOSTE_TASK_HUB"] == "taskHubName"
    assert s["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    assert s["OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID"] == "identityClientId"
    assert expr(s["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"]) == "tenant().tenantId"


def test_the_ingestion_secret_is_a_key_vault_reference():
    value = app_settings()["RIPOSTE_INGEST_SECRETS"]
    assert value == "@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${ingestSecretName}/)"


def test_playbook_secrets_are_key_vault_references_under_the_names_the_code_reads():

    references = parse(FUNCTION_APP)["variables"]["secretReferences"]["value"]["function"]
    assert references["type"] == "toObject" and references["parameters"]["arg_1"] == "secretNames"
    key = references["parameters"]["arg_2"]["detail"]["expression"]
    value = references["parameters"]["arg_3"]["detail"]["expression"]
    assert key == secrets.PREFIX + "${toUpper(replace(secret, '-', '_'))}"
    assert value == "@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secret}/)"
    # The template's name mapping, in Python, is the code's.
    for name in ("halo-client-secret", "teams-webhook", "psa1"):
        assert secrets.PREFIX + name.replace("-", "_").upper() == secrets.setting_name(name)


def test_the_ingestion_credential_key_is_always_a_key_vault_reference():
    """Whatever RIPOSTE_SECRET_NAMES lists, the app gets RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY (a deploy without
    it could create no tenant credential), under the name the code reads and the hook creates."""

    main = parse(MAIN)
    assert main["variables"]["ingestCredentialKeyName"]["value"] == CREDENTIAL_KEY_SECRET
    names = main["modules"]["functionApp"]["config"]["params"]["secretNames"]["function"]
    assert names["type"] == "union" and names["parameters"]["arg_1"][0] == "ingestCredentialKeyName"
    assert main["outputs"]["RIPOSTE_INGEST_CREDENTIAL_KEY_NAME"]["value"] == "ingestCredentialKeyName"


def test_the_graph_notification_key_is_always_a_key_vault_reference():
    """Like the ingestion credential key: referenced whatever RIPOSTE_SECRET_NAMES says, under the name the
    code reads, and created by the postprovision hook as base64."""

    main = parse(MAIN)
    assert main["variables"]["graphNotificationKeyName"]["value"] == KEY_NAME
    names = main["modules"]["functionApp"]["config"]["params"]["secretNames"]["function"]
    assert "graphNotificationKeyName" in names["parameters"]["arg_1"]
    assert main["outputs"]["RIPOSTE_GRAPH_NOTIFICATION_KEY_NAME"]["value"] == "graphNotificationKeyName"
    script = (ROOT / "infra" / "hooks" / "postprovision.sh").read_text()
    assert re.search(r'^ensure_secret "\$RIPOSTE_GRAPH_NOTIFICATION_KEY_NAME" "[^"]+" -base64$', script, re.MULTILINE)


def test_the_task_hub_is_per_environment():
    task_hub = parse(MAIN)["variables"]["taskHubName"]["value"]
    assert "environmentName" in json.dumps(task_hub)


def test_the_console_owns_the_root_url():
    """host.json has no route prefix, so the console (triggers/console.py) serves `/`; without this setting the
    Functions host would show its own home page there instead."""
    assert json.loads((ROOT / "host.json").read_text())["extensions"]["http"]["routePrefix"] == ""
    assert app_settings()["AzureWebJobsDisableHomepage"] == "true"
