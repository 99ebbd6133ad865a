"""The built-in templates: each renders to a playbook that saves; bad parameters are 400s naming the parameter;
permissions come from the primitives', facts', populations' and sources' tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.durations import MAX_LONG_WAIT
from shared.errors import Refused
from shared.models.playbook import InstallOptions, PlaybookMode
from shared.playbook_templates.catalog import BUILTIN, TemplateCatalog, placeholders
from shared.playbook_templates.permissions import template_permissions
from shared.playbook_templates.render import render
from shared.primitives.catalog import PRIMITIVES
from tests.templates.examples import SOC, required_parameters

CATALOG = TemplateCatalog.load()
BUILT_INS = {"compromised-user-response": True, "device-non-compliance": True, "suspicious-mail-rule": True,
             "mfa-not-registered": False, "stale-account-cleanup": True}  # id -> ships enabled
CONTOSO = {"type": "tenant", "tenantId": "11111111-1111-4111-8111-111111111111"}


def options(template_id: str, **changes) -> InstallOptions:
    params = required_parameters(CATALOG.get(template_id)) | changes.pop("parameters", {})
    return InstallOptions.model_validate({"tenantScope": CONTOSO, "parameters": params, **changes})


def test_the_five_built_ins_are_there_and_ship_as_the_brief_says():
    assert {tid: t.playbook.get("enabled", True) for tid, t in CATALOG.latest.items()} == BUILT_INS


@pytest.mark.parametrize("template_id", sorted(BUILT_INS))
def test_each_renders_with_its_defaults_in_simulate_mode(template_id):
    draft = render(CATALOG.get(template_id), options(template_id))
    assert draft.mode is PlaybookMode.SIMULATE and draft.enabled is BUILT_INS[template_id]
    assert draft.trigger.tenant_scope.model_dump(by_alias=True, mode="json") == CONTOSO
    live = render(CATALOG.get(template_id), options(template_id, mode="live", enabled=True, name="Ours"))
    assert (live.mode, live.enabled, live.name) == (PlaybookMode.LIVE, True, "Ours")


@pytest.mark.parametrize(("template_id", "parameters", "field"), [
    ("compromised-user-response", {"socRecipients": ["not-an-address"]}, "parameters.socRecipients[0]"),
    ("compromised-user-response", {"socRecipients": "soc@yourmsp.com.au"}, "parameters.socRecipients"),
    ("compromised-user-response", {"minSeverity": "severe"}, "parameters.minSeverity"),
    ("compromised-user-response", {"recipients": SOC}, "parameters.recipients"),
    ("device-non-compliance", {"graceBeforeBlock": "P31D"}, "parameters.graceBeforeBlock"),  # waits: up to P30D
    ("device-non-compliance", {"graceBeforeBlock": "a day"}, "parameters.graceBeforeBlock"),
    ("stale-account-cleanup", {"inactiveDays": 7}, "parameters.inactiveDays"),
    ("stale-account-cleanup", {"inactiveDays": "90"}, "parameters.inactiveDays"),
    ("stale-account-cleanup", {"schedule": "0 7 * * 1"}, "parameters.schedule"),
    ("mfa-not-registered", {"timeZone": "Mars/Olympus"}, "parameters.timeZone"),
    ("mfa-not-registered", {"approvers": ["a@x.example", "A@x.example"]}, "parameters.approvers"),
])
def test_a_bad_parameter_is_a_400_naming_it(template_id, parameters, field):
    with pytest.raises(Refused) as refused:
        render(CATALOG.get(template_id), options(template_id, parameters=parameters))
    assert (refused.value.status, refused.value.field) == (400, field), refused.value.message


def test_a_missing_required_parameter_is_named():
    with pytest.raises(Refused) as refused:
        render(CATALOG.get("suspicious-mail-rule"),
               InstallOptions.model_validate({"tenantScope": CONTOSO, "parameters": {}}))
    assert refused.value.field == "parameters.securityRecipients" and "required" in refused.value.message


def test_permissions_are_the_union_of_the_tables():
    template = CATALOG.get("device-non-compliance")
    derived = template_permissions(template)
    # sync_device's and disable_user's from the registry, the device facts' read, the managedDevices source's.
    expected = set(PRIMITIVES["sync_device"].graph_permissions) | set(PRIMITIVES["disable_user"].graph_permissions)
    assert set(derived["graph"]) == expected | {"DeviceManagementManagedDevices.Read.All"}
    assert derived["homeTenant"] == ["Mail.Send"]  # notify_email sends from the operator's own tenant
    stale = template_permissions(CATALOG.get("stale-account-cleanup"))
    assert {"AuditLog.Read.All", "LicenseAssignment.ReadWrite.All"} <= set(stale["graph"])  # population, licences


def test_a_primitive_needing_more_changes_the_templates_using_it(monkeypatch):
    spec = PRIMITIVES["revoke_user_sessions"]
    monkeypatch.setitem(PRIMITIVES, "revoke_user_sessions",
                        type(spec)(**{**spec.__dict__, "graph_permissions": ("Made.Up.All",)}))
    assert "Made.Up.All" in template_permissions(CATALOG.get("compromised-user-response"))["graph"]


def _write(folder: Path, template_id: str, version: int, doc: dict) -> None:
    (folder / template_id).mkdir(exist_ok=True)
    (folder / template_id / f"v{version}.json").write_text(json.dumps(doc))


def test_the_loader_refuses_gaps_in_versions_and_undeclared_placeholders(tmp_path: Path):
    doc = json.loads((BUILTIN / "suspicious-mail-rule" / "v1.json").read_text())
    _write(tmp_path, "suspicious-mail-rule", 2, doc | {"version": 2})
    with pytest.raises(ValueError, match=r"versions \[2\] are not 1..N"):
        TemplateCatalog.load(tmp_path)  # version 1 is gone: playbooks installed from it could not be updated
    _write(tmp_path, "suspicious-mail-rule", 1, doc | {"version": 2})
    with pytest.raises(ValueError, match="holds suspicious-mail-rule version 2"):
        TemplateCatalog.load(tmp_path)
    (tmp_path / "suspicious-mail-rule" / "v2.json").unlink()
    _write(tmp_path, "suspicious-mail-rule", 1, doc | {"parameters": doc["parameters"][:1]})
    with pytest.raises(ValueError, match="placeholders"):
        TemplateCatalog.load(tmp_path)


def test_wait_durations_say_the_limit_waits_have():
    """A duration parameter placed in a `wait` that states a limit states a wait's (30 days), not one timer's (six)."""


    checked = 0
    for by_version in TemplateCatalog.load().versions.values():
        for template in by_version.values():
            actions = template.playbook["actions"]
            in_waits = {name for path, name in placeholders(actions, "actions").items()
                        if re.fullmatch(r"actions\[(\d+)\]\.duration", path)
                        and actions[int(re.findall(r"\d+", path)[0])]["type"] == "wait"}
            for parameter in template.parameters:
                if parameter.name in in_waits:
                    checked += 1
                    limits = re.findall(r"(?:under|up to|at most|below) (\w+) days", parameter.description)
                    assert limits in ([], [str(MAX_LONG_WAIT.days)]), (template.id, parameter.name, limits)
    assert checked
