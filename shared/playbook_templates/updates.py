"""Installing a template, and bringing an installed playbook to the template's newest version.

An installed playbook records its template, version and install choices (`TemplateRef`). Its update compares
three renderings: the recorded version with the recorded choices (what was installed), the playbook as it is
now (the operator's edits), and the newest version with the same choices. Template changes apply where the
operator did not edit; the operator's edits stay where the template did not change; a field both changed is a
conflict, resolved per field by the caller (`"local"` or `"template"`) or refused with 409 naming the fields.
Nothing is lost silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError

from shared.api_model import SAVING, CamelModel
from shared.errors import Refused
from shared.models.playbook import InstallOptions, Playbook, PlaybookDraft, PlaybookPatch, TemplateRef
from shared.playbook_templates.catalog import Template, TemplateCatalog
from shared.playbook_templates.merge import Merge, three_way
from shared.playbook_templates.render import draft_json, render
from shared.store.directory import DirectoryStore
from shared.store.playbooks import PlaybookStore, PreconditionFailed, etag_of
from shared.tenant_references import check_scope_exists
from shared.validation import describe

Check = Callable[[PlaybookDraft], None]  # the save-time rule a playbook must pass (the broad-trigger refusal)

DRAFT_FIELDS = frozenset(PlaybookDraft.model_fields)


class UpdateRequest(CamelModel):
    # A conflicting field (as listed by the preview) -> which side wins.
    resolutions: dict[str, Literal["local", "template"]] = Field(default_factory=dict, max_length=200)
    # Parameter values to install the newest version with, over the recorded ones (e.g. one it added).
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=50)


def template_of(catalog: TemplateCatalog, template_id: str) -> Template:
    template = catalog.get(template_id)
    if template is None:
        raise Refused(404, "not_found", f"There is no template '{template_id}'.")
    return template


def install(catalog: TemplateCatalog, template_id: str, body: Any) -> tuple[PlaybookDraft, TemplateRef]:
    """The playbook the newest version of the template makes with these choices, and the record of it."""
    template = template_of(catalog, template_id)
    options = InstallOptions.model_validate(body if body is not None else {}, context=SAVING)
    return render(template, options), TemplateRef(id=template.id, version=template.version, install=options)


def install_playbook(catalog: TemplateCatalog, playbooks: PlaybookStore, directory: DirectoryStore,
                     template_id: str, body: Any, actor: str, check: Check) -> Playbook:
    """Install: render, check as a new playbook is checked (its scope exists, `check`), save with its template."""
    draft, ref = install(catalog, template_id, body)
    try:
        check_scope_exists(directory, draft.trigger.tenant_scope)
        check(draft)
    except Refused as exc:  # named as the install request names it: the scope is the installer's choice
        if exc.field is not None:
            exc.field = "tenantScope" + exc.field.removeprefix("trigger").removeprefix(".tenantScope")
        raise
    return playbooks.create(draft, actor=actor, template=ref)


def status(catalog: TemplateCatalog, playbook: Playbook) -> dict[str, Any] | None:
    """The template part of a playbook's view: which version it follows and whether a newer one exists."""
    ref = playbook.template
    if ref is None:
        return None
    latest = catalog.get(ref.id)
    latest_version = latest.version if latest is not None else None
    return {"id": ref.id, "version": ref.version, "latestVersion": latest_version,
            "updateAvailable": latest_version is not None and latest_version > ref.version}


@dataclass(frozen=True)
class UpdatePlan:
    template: Template  # the newest version
    from_version: int
    merge: Merge
    install: InstallOptions  # what the newest version was rendered with (recorded with the update)

    def view(self) -> dict[str, Any]:
        return {"template": {"id": self.template.id, "from": self.from_version, "to": self.template.version},
                "updateAvailable": self.template.version > self.from_version,
                "changes": [c.view() for c in self.merge.changes], "conflicts": self.merge.conflicts,
                "result": None if self.merge.conflicts else self.merge.result}


def _local(playbook: Playbook) -> dict[str, Any]:
    return playbook.model_dump(mode="json", by_alias=True, include=set(DRAFT_FIELDS))


def plan_update(catalog: TemplateCatalog, playbook: Playbook, resolutions: dict[str, str] | None = None,
                parameters: dict[str, Any] | None = None) -> UpdatePlan:
    """The merge of the installed version's rendering, the playbook now and the newest version's rendering
    (with the recorded install request, its parameters overridden by `parameters`)."""
    ref = playbook.template
    if ref is None:
        raise Refused(409, "not_from_template", "This playbook was not installed from a template.")
    installed = catalog.get(ref.id, ref.version)
    newest = catalog.get(ref.id)
    if installed is None or newest is None:
        raise Refused(409, "template_unknown", f"Template '{ref.id}' version {ref.version} is no longer known.")
    # Recorded values of parameters the newest version dropped are dropped with them; given ones are checked.
    kept = {k: v for k, v in ref.install.parameters.items() if newest.parameter(k) is not None}
    install = ref.install.model_copy(update={"parameters": kept | (parameters or {})})
    base = draft_json(render(installed, ref.install))  # it rendered when installed: it still does
    try:
        new = draft_json(render(newest, install))
    except Refused as exc:  # e.g. a parameter the newest version added (required) or whose bounds it changed
        if parameters:  # the caller's values do not fit: their 400
            raise
        raise Refused(409, "template_conflict", f"{ref.id} version {newest.version} cannot be installed with the "
                      f"recorded parameters: {exc.message}. Send \"parameters\" with the update.",
                      field=exc.field) from None
    merge = three_way(base, _local(playbook), new, resolutions)
    unknown = sorted(set(resolutions or {}) - {c.field for c in merge.changes})
    if unknown:
        raise Refused(400, "invalid_request", "not a conflicting field of this update",
                      field=f"resolutions.{unknown[0]}")
    return UpdatePlan(newest, ref.version, merge, install)


def merged_patch(plan: UpdatePlan) -> PlaybookPatch:
    """The merged playbook as a full patch, validated as a client's edit is; refused while a conflict is open."""
    if plan.merge.conflicts:
        raise Refused(409, "template_conflict",
                      "The playbook and the template both changed: " + ", ".join(plan.merge.conflicts)
                      + '. Resolve each in "resolutions" ("local" keeps yours, "template" takes the template\'s).',
                      field=plan.merge.conflicts[0],
                      details=[{"field": f, "reason": "changed in the playbook and in the template"}
                               for f in plan.merge.conflicts])
    try:
        return PlaybookPatch.model_validate(plan.merge.result, context=SAVING)
    except ValidationError as exc:
        problem = describe(exc)[0]
        raise Refused(409, "template_conflict", f"The merged playbook is not valid: {problem['reason']}",
                      field=problem["field"]) from None


def next_ref(plan: UpdatePlan) -> TemplateRef:
    return TemplateRef(id=plan.template.id, version=plan.template.version, install=plan.install)


def apply_update(catalog: TemplateCatalog, playbooks: PlaybookStore, directory: DirectoryStore, playbook_id: str,
                 if_match: str, body: Any, actor: str, check: Check) -> tuple[Playbook, dict[str, Any]]:
    """Bring the playbook to the template's newest version (or to new parameter values): the saved playbook and
    what to audit. PreconditionFailed when `if_match` is not the current version: the merge is of the
    playbook the caller saw, and the store refuses the write if another edit comes in between."""
    request = UpdateRequest.model_validate({} if body is None else body)
    playbook = playbooks.get(playbook_id)
    if if_match.strip() not in (etag_of(playbook), "*"):
        raise PreconditionFailed(playbook)
    plan = plan_update(catalog, playbook, request.resolutions, request.parameters)
    if plan.template.version == plan.from_version and not request.parameters:
        raise Refused(409, "up_to_date", f"The playbook follows {plan.template.id} version {plan.template.version}, "
                      "the newest.")
    patch = merged_patch(plan)
    if patch.trigger is not None:
        check_scope_exists(directory, patch.trigger.tenant_scope)
    updated = playbooks.update(playbook.id, patch, etag_of(playbook), actor=actor, check=check,
                               template=next_ref(plan))
    changed = sorted({c.field.split(".")[0].split("[")[0] for c in plan.merge.changes
                      if c.outcome == "template" or c.field in request.resolutions})
    return updated, {"changed": changed,
                     "template": {"id": plan.template.id, "from": plan.from_version, "to": plan.template.version}}
