"""Hardening a reviewer would insist on: TLS and HTTPS, no local auth or keys, data-plane roles for the
identity, diagnostics, and App Service authentication configured for both people and alert senders."""

import json
import re

import pytest

from shared.auth import Role
from tests.infra import INFRA, MAIN, all_resources, bicep_files, body, expr, parse, resources

# Built-in role definition ids: the same in every tenant.
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Microsoft Sentinel Responder": "3e150937-b8fe-4cfb-8069-0eaf05ecd056",
}
# Which role the app's identity needs on which kind of resource.
APP_ROLES = {
    "Storage Blob Data Owner": "Microsoft.Storage/storageAccounts",
    "Storage Queue Data Contributor": "Microsoft.Storage/storageAccounts",
    "Storage Table Data Contributor": "Microsoft.Storage/storageAccounts",
    "Azure Service Bus Data Receiver": "Microsoft.ServiceBus/namespaces",
    "Azure Service Bus Data Sender": "Microsoft.ServiceBus/namespaces/queues",  # the polls queue only
    "Key Vault Secrets User": "Microsoft.KeyVault/vaults",
    "Monitoring Metrics Publisher": "Microsoft.Insights/components",
    "Microsoft Sentinel Responder": "Microsoft.OperationalInsights/workspaces",  # Sentinel write-back
}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def one(resource_type):
    found = all_resources(resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return body(found[0][2])


def test_storage_takes_no_shared_keys_and_only_tls12_https():
    props = one("Microsoft.Storage/storageAccounts")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    assert props["allowBlobPublicAccess"] is False


def test_function_app_is_flex_consumption_python_https_only_without_ftp():
    plan = one("Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = one("Microsoft.Web/sites")
    props = site["properties"]
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert site["identity"]["type"] == "UserAssigned"
    assert props["keyVaultReferenceIdentity"] == "identityId", "Key Vault references must use the user identity"
    deployment = props["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert deployment["type"] == "UserAssignedIdentity"


def test_basic_publishing_credentials_are_off_for_ftp_and_scm():
    policies = {body(r)["name"]: body(r)["properties"]["allow"]
                for _, _, r in all_resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")}
    assert policies == {"ftp": False, "scm": False}


@pytest.mark.parametrize(("resource_type", "flag"), [
    ("Microsoft.Insights/components", "DisableLocalAuth"),
    ("Microsoft.ServiceBus/namespaces", "disableLocalAuth"),
    ("Microsoft.EventGrid/topics", "disableLocalAuth"),
])
def test_local_auth_is_off(resource_type, flag):
    assert one(resource_type)["properties"][flag] is True


def test_key_vault_uses_rbac_and_keeps_deleted_secrets():
    props = one("Microsoft.KeyVault/vaults")["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enableSoftDelete"] is True
    assert props["enablePurgeProtection"] is True
    assert "accessPolicies" not in props


def test_service_bus_has_the_alerts_and_polls_queues_and_tls12():
    assert one("Microsoft.ServiceBus/namespaces")["properties"]["minimumTlsVersion"] == "1.2"
    queues = {body(r)["name"] for _, _, r in all_resources("Microsoft.ServiceBus/namespaces/queues")}
    assert queues == {"queueName", "pollQueueName"}
    params = body(parse(MAIN)["modules"]["serviceBus"])["params"]
    assert (params["queueName"], params["pollQueueName"]) == ("alerts", "polls")


SECRET_PATTERNS = ("listKeys(", "listkeys(", "listConnectionStrings", "AccountKey=", "SharedAccessKey",
                   "DefaultEndpointsProtocol", "primaryConnectionString", "primaryKey")


@pytest.mark.parametrize("path", [p for p in INFRA.rglob("*") if p.is_file()], ids=lambda p: p.name)
def test_no_account_key_or_connection_string_anywhere_in_infra(path):
    text = path.read_text(encoding="utf-8")
    assert not [s for s in SECRET_PATTERNS if s in text], f"{path.name} reads or writes a key"


def _role_guid(role_definition_id, variables):
    fn = role_definition_id["function"]
    assert fn["type"] == "subscription_resource_id"
    assert fn["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    ref = expr(fn["parameters"]["resource_name_1"])
    if GUID.match(ref):
        return ref
    table, key = ref.split(".")  # e.g. roles.storageBlobDataOwner
    return variables[table]["value"][key]


def _role_assignments():
    """(role guid, principal expression, scope resource type, assignment) for every role assignment."""
    found = []
    for path in bicep_files():
        doc = parse(path)
        for res in doc.get("resources", {}).values():
            if res["type"] != "Microsoft.Authorization/roleAssignments":
                continue
            assignment = body(res)
            scope_type = doc["resources"][assignment["scope"]]["type"]
            guid = _role_guid(assignment["properties"]["roleDefinitionId"], doc.get("variables", {}))
            found.append((guid, assignment["properties"]["principalId"], scope_type, assignment))
    return found


def test_the_app_identity_has_every_data_plane_role_it_needs_on_the_right_resource():
    granted = {(guid, scope) for guid, principal, scope, _ in _role_assignments() if principal == "identityPrincipalId"}
    missing = {name for name, scope in APP_ROLES.items() if (ROLE_IDS[name], scope) not in granted}
    assert missing == set()


def test_the_rbac_identity_is_the_function_apps_identity():
    modules = parse(MAIN)["modules"]
    assert expr(body(modules["rbac"])["params"]["identityPrincipalId"]) == "identity.outputs.principalId"
    # Sentinel write-back: the same identity, on the workspace named by RIPOSTE_SENTINEL_WORKSPACE_ID, when set.
    assert expr(body(modules["sentinelRbac"])["params"]["identityPrincipalId"]) == "identity.outputs.principalId"
    app = body(modules["functionApp"])["params"]
    assert expr(app["identityId"]) == "identity.outputs.id"
    assert expr(app["identityClientId"]) == "identity.outputs.clientId"


def test_role_assignment_names_are_deterministic_guids_and_principal_types_are_set_for_identities():
    assignments = _role_assignments()
    assert assignments
    for _, principal, _, assignment in assignments:
        name = assignment["name"]
        assert isinstance(name, dict) and name["function"]["type"] == "guid", "use guid(scope, principal, role)"
        if principal != "deployerPrincipalId":
            assert assignment["properties"]["principalType"] == "ServicePrincipal"


@pytest.mark.parametrize("resource_type", [
    "Microsoft.Web/sites",
    "Microsoft.KeyVault/vaults",
    "Microsoft.ServiceBus/namespaces",
    "Microsoft.EventGrid/topics",
])
def test_diagnostic_settings_send_logs_to_log_analytics(resource_type):
    for path, symbol, _ in all_resources(resource_type):
        settings = [body(r) for r in resources(path).values()
                    if r["type"] == "Microsoft.Insights/diagnosticSettings" and body(r)["scope"] == symbol]
        assert len(settings) == 1, f"{symbol} in {path.name} has no diagnostic setting"
        props = settings[0]["properties"]
        assert props["workspaceId"] == "workspaceId"
        assert any(log["enabled"] is True for log in props["logs"])


def _auth_settings():
    found = [body(r) for _, _, r in all_resources("Microsoft.Web/sites/config") if body(r)["name"] == "authsettingsV2"]
    assert len(found) == 1, "App Service authentication (authsettingsV2) must be configured once"
    return found[0]["properties"]


def test_app_service_auth_signs_people_in_with_entra_id_and_lets_alert_senders_through():
    auth = _auth_settings()
    assert auth["platform"]["enabled"] is True
    # The app answers 401/403 itself: senders with a function key and secret cannot sign in to Entra ID.
    assert auth["globalValidation"] == {"requireAuthentication": False, "unauthenticatedClientAction": "AllowAnonymous"}
    assert auth["httpSettings"]["requireHttps"] is True
    entra = auth["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True
    assert entra["registration"]["clientId"] == "apiClientId"
    assert entra["registration"]["openIdIssuer"].endswith("${tenant().tenantId}/v2.0")


def test_app_service_auth_has_no_client_secret():
    registration = _auth_settings()["identityProviders"]["azureActiveDirectory"]["registration"]
    # The managed identity as federated credential: the setting holds the identity's client id, not a secret.
    assert registration["clientSecretSettingName"] == "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID"
    assert "clientSecretCertificateThumbprint" not in registration


def test_the_sign_in_app_registration_defines_exactly_the_roles_the_code_checks():

    app_roles = json.loads((INFRA / "entra" / "api-app-roles.json").read_text())
    assert {r["value"] for r in app_roles} == {r.value for r in Role}
    assert len({r["id"] for r in app_roles}) == len(app_roles)
    for role in app_roles:
        assert GUID.match(role["id"]) and role["isEnabled"] is True and "User" in role["allowedMemberTypes"]
