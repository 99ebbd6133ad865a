"""azure.yaml, the azd hooks and the template's outputs fit together."""

import re

import yaml

from tests.infra import AZD_VARIABLES, INFRA, MAIN, ROOT, parse

AZURE_YAML = yaml.safe_load((ROOT / "azure.yaml").read_text())
OUTPUTS = parse(MAIN)["outputs"]


def test_the_service_is_a_python_function_app_deployed_from_the_repository_root():
    assert AZURE_YAML["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    api = AZURE_YAML["services"]["api"]
    assert {k: v for k, v in api.items() if k != "hooks"} == {"project": ".", "language": "python", "host": "function"}
    assert (ROOT / api["project"] / "function_app.py").is_file()


def test_azd_finds_the_app_by_its_service_tag():
    site = parse(INFRA / "app" / "function-app.bicep")["resources"]["site"]["config"]
    assert site["tags"]["function"]["type"] == "union"
    assert site["tags"]["function"]["parameters"]["arg_2"] == {"'azd-service-name'": "serviceName"}
    call = parse(MAIN)["modules"]["functionApp"]["config"]
    assert call["params"]["serviceName"] in AZURE_YAML["services"]


def _hook(name):
    hook = AZURE_YAML["hooks"][name]["posix"]
    assert hook["shell"] == "sh" and hook["continueOnError"] is False
    path = ROOT / hook["run"]
    assert path.is_file(), f"{name} hook script missing: {path}"
    return path


def test_postdeploy_subscribes_event_grid_to_the_function_after_code_deploy():
    script = _hook("postdeploy").read_text()
    assert "az eventgrid event-subscription create" in script
    assert "--endpoint-type azurefunction" in script
    assert "/functions/ingest_event_grid_alert" in script
    assert "--deadletter-identity systemassigned" in script


def test_the_event_grid_function_exists_in_the_code():
    source = (ROOT / "triggers" / "alerts.py").read_text()
    assert re.search(r"@bp\.event_grid_trigger\([^)]*\)\s*\n(@[^\n]+\n)*async def ingest_event_grid_alert\(", source)


def test_postprovision_creates_the_ingestion_secret_only_when_missing():
    script = _hook("postprovision").read_text()
    assert "az keyvault secret show" in script and "az keyvault secret set" in script
    assert "--file" in script, "the secret must not be passed on the command line"


def test_postprovision_creates_the_ingestion_credential_key_as_base64():
    """The app refuses a key that is not base64 of 32 or more bytes (shared/ingest_credentials.py)."""
    script = _hook("postprovision").read_text()
    assert re.search(r'^ensure_secret "\$RIPOSTE_INGEST_CREDENTIAL_KEY_NAME" "[^"]+" -base64$', script, re.MULTILINE)
    assert re.search(r'^ensure_secret "\$RIPOSTE_INGEST_SECRET_NAME" "[^"]+" -hex$', script, re.MULTILINE)
    assert 'openssl rand "$3" 32' in script


def test_every_variable_the_scripts_read_is_an_output_or_set_by_azd():
    scripts = [p for p in (INFRA / "hooks").glob("*.sh")] + [p for p in (INFRA / "scripts").glob("*.sh")]
    assert scripts
    for script in scripts:
        used = set(re.findall(r"\$\{?((?:AZURE|RIPOSTE)_[A-Z0-9_]+)", script.read_text()))
        assert used - set(OUTPUTS) - AZD_VARIABLES == set(), f"{script.name} reads variables nothing sets"


def test_outputs_give_the_api_base_url_and_the_action_group_webhook_url():
    base = OUTPUTS["RIPOSTE_API_BASE_URL"]["value"]
    webhook = OUTPUTS["RIPOSTE_ALERT_WEBHOOK_URL"]["value"]
    assert base == "https://${functionApp.outputs.defaultHostName}/api"
    assert webhook == "https://${functionApp.outputs.defaultHostName}/api/alerts"


def test_outputs_carry_no_secret():
    for name, output in OUTPUTS.items():
        assert not {"secure", "sys.secure"} & {d["type"] for d in output["decorators"]}, name
        assert not re.search(r"secret|key|password", str(output["value"]), re.IGNORECASE) or name in {
            "RIPOSTE_INGEST_SECRET_NAME", "RIPOSTE_INGEST_CREDENTIAL_KEY_NAME", "RIPOSTE_GRAPH_NOTIFICATION_KEY_NAME",
            "AZURE_KEY_VAULT_NAME"}, name
