"""Network primitives: block sign-ins from the alert's countries through a Conditional Access named location.

`block_sign_in_country` adds the alert's countries (`alert.entities.countries`, ISO 3166-1 alpha-2) to a
countryNamedLocation that a blocking Conditional Access policy references; the policy itself is the
operator's (Riposte never creates or edits policies). Graph facts (graph-contract.md 11a-11b):
- `GET /identity/conditionalAccess/namedLocations/{id}` is polymorphic; an ipNamedLocation is refused.
- `PATCH` of the same path must carry `"@odata.type": "#microsoft.graph.countryNamedLocation"` and answers
  204. `countriesAndRegions` is *replaced*, not merged, so the full list is sent: what was there plus
  the new countries.
- Permissions: Policy.Read.All and Policy.ReadWrite.ConditionalAccess (both).

`neverBlock` lists countries the step must never add whatever the alert says (the tenant's home
country, where its own staff sign in): a spoofed or mis-geolocated alert must not lock out the company.
`maxCountries` bounds how many countries one alert may add.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.graph.errors import odata_error
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.schemas.network import _ALPHA2, BlockSignInCountryParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.country_named_location import CountryNamedLocation
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

COUNTRY_TYPE = "#microsoft.graph.countryNamedLocation"


def _alert_countries(countries: list[str]) -> tuple[list[str], list[str]]:
    """(valid codes, upper case, deduplicated in order; values that are not two-letter codes)."""
    valid: list[str] = []
    invalid: list[str] = []
    for raw in countries:
        code = str(raw).strip().upper()
        if not _ALPHA2.match(code):
            invalid.append(str(raw)[:20])
        elif code not in valid:
            valid.append(code)
    return valid, invalid


def _plan(params: BlockSignInCountryParams, countries: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(countries to block, countries left out because of neverBlock, invalid values)."""
    valid, invalid = _alert_countries(countries)
    never = set(params.never_block)
    return [c for c in valid if c not in never], [c for c in valid if c in never], invalid


def _location_label(location: Any, location_id: str) -> dict[str, Any]:
    return {"id": location_id, "displayName": getattr(location, "display_name", None)}


async def _get_country_location(graph: GraphServiceClient, location_id: str) -> CountryNamedLocation | StepOutcome:
    # msgraph's models are imported where used: `import function_app` stays light.
    from msgraph.generated.models.country_named_location import CountryNamedLocation

    try:
        location = await graph.identity.conditional_access.named_locations.by_named_location_id(location_id).get()
    except odata_error() as exc:
        error = from_odata(exc)
        return StepOutcome.failed(error.code, error.message, {"namedLocation": {"id": location_id}})
    if not isinstance(location, CountryNamedLocation):
        kind = getattr(location, "odata_type", None) or type(location).__name__
        return StepOutcome.failed(
            "not_a_country_location",
            f"Named location {location_id} is a {kind}, not a countryNamedLocation; countries cannot be added to it.",
            {"namedLocation": _location_label(location, location_id) | {"odataType": kind}},
        )
    return location


async def _patch_countries(graph: GraphServiceClient, location_id: str, current: CountryNamedLocation,
                           countries: list[str]) -> ODataError | None:
    from msgraph.generated.models.country_named_location import CountryNamedLocation

    # The unchanged properties are sent too: harmless if PATCH merges, and safe if it replaces.
    body = CountryNamedLocation(
        odata_type=COUNTRY_TYPE,
        display_name=current.display_name,
        countries_and_regions=countries,
        include_unknown_countries_and_regions=current.include_unknown_countries_and_regions,
    )
    try:
        await graph.identity.conditional_access.named_locations.by_named_location_id(location_id).patch(body)
    except odata_error() as exc:
        return exc
    return None


async def block_sign_in_country(params: BlockSignInCountryParams, ctx: StepContext) -> StepOutcome:
    alert = ctx.alert
    wanted, never_blocked, invalid = _plan(params, alert.entities.countries)
    extra: dict[str, Any] = {k: v for k, v in {"neverBlocked": never_blocked, "ignored": invalid}.items() if v}
    if not wanted:
        why = "only countries in neverBlock" if never_blocked else "no country"
        return StepOutcome(StepStatus.SKIPPED, result=extra, reason=f"The alert names {why}.")
    if alert.tenant_id is None:
        return StepOutcome.skipped("The alert is not attributed to a tenant, so no named location can be changed.")
    location_id = params.named_location_id
    graph = ctx.tenant_graph()
    location = await _get_country_location(graph, location_id)
    if isinstance(location, StepOutcome):
        location.result.update(extra)
        return location
    before = list(location.countries_and_regions or [])
    present = {c.upper() for c in before}
    to_add = [c for c in wanted if c not in present]
    label = _location_label(location, location_id)
    if len(to_add) > params.max_countries:
        return StepOutcome.failed(
            "too_many_targets",
            f"The alert would add {len(to_add)} countries; this step adds at most {params.max_countries} "
            "(maxCountries).", {"namedLocation": label, "toAdd": to_add, **extra})
    result = {"namedLocation": label | {"before": {"countriesAndRegions": before}},
              "alreadyPresent": [c for c in wanted if c in present], **extra}
    if not to_add:  # idempotent: nothing to change, no write
        result["namedLocation"]["after"] = {"countriesAndRegions": before}
        return StepOutcome(StepStatus.SUCCEEDED, result=result | {"added": []})
    after = before + to_add
    failure = await _patch_countries(graph, location_id, location, after)
    if failure is not None:
        error = from_odata(failure)
        return StepOutcome.failed(error.code, error.message, result | {"toAdd": to_add})
    result["namedLocation"]["after"] = {"countriesAndRegions": after}
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {"added": to_add})


async def undo_block_sign_in_country(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Remove only the countries this step added (and that are still listed); the others stay."""
    added = [str(c).upper() for c in step.result.get("added") or []]
    location_id = (step.result.get("namedLocation") or {}).get("id")
    if not added or not location_id:
        return StepOutcome(StepStatus.SUCCEEDED, result={"removed": [], "note": "the step added no country"})
    if ctx.alert.tenant_id is None:
        return StepOutcome.failed("no_tenant", "The alert is not attributed to a tenant.")
    graph = ctx.tenant_graph()
    location = await _get_country_location(graph, location_id)
    if isinstance(location, StepOutcome):
        return location
    current = list(location.countries_and_regions or [])
    removed = [c for c in current if c.upper() in added]
    remaining = [c for c in current if c.upper() not in added]
    label = _location_label(location, location_id) | {"before": {"countriesAndRegions": current}}
    if not removed:
        label["after"] = {"countriesAndRegions": current}
        return StepOutcome(StepStatus.SUCCEEDED, result={"namedLocation": label, "removed": [],
                                                         "note": "the countries were already gone"})
    failure = await _patch_countries(graph, location_id, location, remaining)
    if failure is not None:
        error = from_odata(failure)
        return StepOutcome.failed(error.code, error.message, {"namedLocation": label})
    label["after"] = {"countriesAndRegions": remaining}
    return StepOutcome(StepStatus.SUCCEEDED, result={"namedLocation": label, "removed": removed})


def describe_block_sign_in_country(params: BlockSignInCountryParams, ctx: StepContext) -> str:
    wanted, never_blocked, _ = _plan(params, ctx.alert.entities.countries)
    spared = f" ({', '.join(never_blocked)} left out: neverBlock)" if never_blocked else ""
    if not wanted:
        return f"Would skip: the alert names no country to block{spared}."
    if len(wanted) > params.max_countries:
        return (f"Would add {', '.join(wanted)} to countryNamedLocation {params.named_location_id}, unless more "
                f"than maxCountries ({params.max_countries}) of them are not listed yet: then it adds none{spared}.")
    return (f"Would add {', '.join(wanted)} to countryNamedLocation {params.named_location_id} in tenant "
            f"{ctx.alert.tenant_id} (countries already listed are left as they are){spared}.")


register(Primitive(
    "block_sign_in_country", BlockSignInCountryParams,
    "Add the alert's countries to a countryNamedLocation that a blocking Conditional Access policy uses "
    "(never the neverBlock countries). Rollback removes only the countries this step added.",
    ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"), (),
    idempotent=True, needs_user=False,
    handler=block_sign_in_country, describe=describe_block_sign_in_country, undo=undo_block_sign_in_country,
    example={"type": "block_sign_in_country", "namedLocationId": "5f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
             "neverBlock": ["AU"]},
))
