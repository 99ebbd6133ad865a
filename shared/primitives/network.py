"""Network primitives: block sign-ins from the alert's countries or IP ranges through a Conditional Access named
location.

`block_sign_in_country` adds the alert's countries (`alert.entities.countries`, ISO 3166-1 alpha-2) to a
countryNamedLocation that a blocking Conditional Access policy references; the policy itself is the
operator's (Riposte never creates or edits policies), but the step reads the policies first
(`GET /identity/conditionalAccess/policies`) and refuses a location no enabled policy blocks: what it added
would block nothing. Graph facts (graph-contract.md 11a-11b):
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

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.graph.errors import odata_error
from shared.models.run import StepResult, StepStatus
from shared.primitives.context import StepContext, StepOutcome
from shared.primitives.graph_errors import from_odata
from shared.primitives.registry import Primitive, register
from shared.schemas.network import _ALPHA2, BlockSignInCountryParams, BlockSignInIpParams

if TYPE_CHECKING:
    from msgraph import GraphServiceClient
    from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
    from msgraph.generated.models.country_named_location import CountryNamedLocation
    from msgraph.generated.models.ip_named_location import IpNamedLocation
    from msgraph.generated.models.named_location import NamedLocation
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


# --- the named-location flow both primitives share ----------------------------------------------------
@dataclass(frozen=True)
class LocationKind:
    """What differs between the named locations a step adds to: its model, the list it edits, and its words."""

    wrong_kind_code: str  # the failure when the id names another kind of location
    wrong_kind: str  # "not a countryNamedLocation; countries cannot be added to it"
    field: str  # the edited list as the step reports it (countriesAndRegions, ipRanges)
    one: str  # "country": the notes of a rollback
    many: str  # "countries"
    model: Callable[[], type]  # the msgraph model, imported when used
    entries: Callable[[Any], list[str]]  # the location's list
    body: Callable[[Any, list[str]], Any]  # the PATCH body: the location with that list
    # A refusal particular to the kind, before the policies are read: (location, id, the failure's result).
    refuse: Callable[[Any, str, dict[str, Any]], StepOutcome | None] = lambda location, location_id, result: None
    never_empty: bool = False  # Graph refuses the location without any entry


async def _get_location(graph: GraphServiceClient, kind: LocationKind, location_id: str) -> Any:
    """The location, or the failed outcome: a read error, or a location of another kind."""
    try:
        location = await graph.identity.conditional_access.named_locations.by_named_location_id(location_id).get()
    except odata_error() as exc:
        error = from_odata(exc)
        return StepOutcome.failed(error.code, error.message, {"namedLocation": {"id": location_id}})
    if not isinstance(location, kind.model()):
        found = getattr(location, "odata_type", None) or type(location).__name__
        return StepOutcome.failed(
            kind.wrong_kind_code,
            f"Named location {location_id} is a {found}, {kind.wrong_kind}.",
            {"namedLocation": _location_label(location, location_id) | {"odataType": found}},
        )
    return location


async def _patch_location(graph: GraphServiceClient, location_id: str, body: NamedLocation) -> ODataError | None:
    try:
        await graph.identity.conditional_access.named_locations.by_named_location_id(location_id).patch(body)
    except odata_error() as exc:
        return exc
    return None


def _reported(never_blocked: list[str], ignored: list[Any]) -> dict[str, Any]:
    """What the alert asked for that the step leaves out, reported in every outcome (when there is any)."""
    return {k: v for k, v in {"neverBlocked": never_blocked, "ignored": ignored}.items() if v}


async def _add_to_location(ctx: StepContext, kind: LocationKind, location_id: str, extra: dict[str, Any],
                           nothing: str | None, split: Callable[[list[str]], tuple[list[str], list[str]]],
                           limit: int, too_many: Callable[[int], str]) -> StepOutcome:
    """Read the location, check an enabled policy blocks it, and add what ``split(before)`` says is missing
    (``(to add, already present)``): at most ``limit`` entries, none when more are missing. ``nothing`` says
    what the alert names when there is nothing to add: the step is skipped."""
    if nothing is not None:
        return StepOutcome(StepStatus.SKIPPED, result=extra, reason=f"The alert names {nothing}.")
    if ctx.alert.tenant_id is None:
        return StepOutcome.skipped("The alert is not attributed to a tenant, so no named location can be changed.")
    graph = ctx.tenant_graph()
    location = await _get_location(graph, kind, location_id)
    if isinstance(location, StepOutcome):
        location.result.update(extra)
        return location
    label = _location_label(location, location_id)
    refused = kind.refuse(location, location_id, {"namedLocation": label, **extra})
    if refused is not None:
        return refused
    blocked_by = await _enforced_by_a_policy(graph, location_id, label, extra)
    if isinstance(blocked_by, StepOutcome):
        return blocked_by
    before = kind.entries(location)
    to_add, already_present = split(before)
    if len(to_add) > limit:
        return StepOutcome.failed("too_many_targets", too_many(len(to_add)),
                                  {"namedLocation": label, "toAdd": to_add, **extra})
    result = {"namedLocation": label | {"before": {kind.field: before}}, "blockedBy": blocked_by,
              "alreadyPresent": already_present, **extra}
    if not to_add:  # idempotent: nothing to change, no write
        result["namedLocation"]["after"] = {kind.field: before}
        return StepOutcome(StepStatus.SUCCEEDED, result=result | {"added": []})
    after = before + to_add
    failure = await _patch_location(graph, location_id, kind.body(location, after))
    if failure is not None:
        error = from_odata(failure)
        return StepOutcome.failed(error.code, error.message, result | {"toAdd": to_add})
    result["namedLocation"]["after"] = {kind.field: after}
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {"added": to_add})


async def _remove_from_location(step: StepResult, ctx: StepContext, kind: LocationKind, any_added: bool,
                                was_added: Callable[[str], bool]) -> StepOutcome:
    """Rollback: remove only the entries the step added (``was_added``) that are still listed; the others stay."""
    location_id = (step.result.get("namedLocation") or {}).get("id")
    if not any_added or not location_id:
        return StepOutcome(StepStatus.SUCCEEDED, result={"removed": [], "note": f"the step added no {kind.one}"})
    if ctx.alert.tenant_id is None:
        return StepOutcome.failed("no_tenant", "The alert is not attributed to a tenant.")
    graph = ctx.tenant_graph()
    location = await _get_location(graph, kind, location_id)
    if isinstance(location, StepOutcome):
        return location
    current = kind.entries(location)
    removed = [c for c in current if was_added(c)]
    remaining = [c for c in current if not was_added(c)]
    label = _location_label(location, location_id) | {"before": {kind.field: current}}
    if not removed:
        label["after"] = {kind.field: current}
        return StepOutcome(StepStatus.SUCCEEDED, result={"namedLocation": label, "removed": [],
                                                         "note": f"the {kind.many} were already gone"})
    if kind.never_empty and not remaining:
        return StepOutcome.failed(
            "location_would_be_empty",
            f"Removing {', '.join(removed)} would leave named location {location_id} without any {kind.one}, which "
            f"Graph refuses; remove them by hand or add another {kind.one} first.", {"namedLocation": label})
    failure = await _patch_location(graph, location_id, kind.body(location, remaining))
    if failure is not None:
        error = from_odata(failure)
        return StepOutcome.failed(error.code, error.message, {"namedLocation": label})
    label["after"] = {kind.field: remaining}
    return StepOutcome(StepStatus.SUCCEEDED, result={"namedLocation": label, "removed": removed})


# --- block_sign_in_country ----------------------------------------------------------------------------------
def _country_model() -> type:
    # msgraph's models are imported where used: `import function_app` stays light.
    from msgraph.generated.models.country_named_location import CountryNamedLocation

    return CountryNamedLocation


def _country_body(current: CountryNamedLocation, countries: list[str]) -> CountryNamedLocation:
    from msgraph.generated.models.country_named_location import CountryNamedLocation

    # The unchanged properties are sent too: harmless if PATCH merges, and safe if it replaces.
    return CountryNamedLocation(
        odata_type=COUNTRY_TYPE,
        display_name=current.display_name,
        countries_and_regions=countries,
        include_unknown_countries_and_regions=current.include_unknown_countries_and_regions,
    )


COUNTRIES = LocationKind(
    "not_a_country_location", "not a countryNamedLocation; countries cannot be added to it", "countriesAndRegions",
    "country", "countries", _country_model, lambda location: list(location.countries_and_regions or []),
    _country_body)


async def block_sign_in_country(params: BlockSignInCountryParams, ctx: StepContext) -> StepOutcome:
    wanted, never_blocked, invalid = _plan(params, ctx.alert.entities.countries)
    nothing = None if wanted else "only countries in neverBlock" if never_blocked else "no country"

    def split(before: list[str]) -> tuple[list[str], list[str]]:
        present = {c.upper() for c in before}
        return [c for c in wanted if c not in present], [c for c in wanted if c in present]

    return await _add_to_location(
        ctx, COUNTRIES, params.named_location_id, _reported(never_blocked, invalid), nothing, split,
        params.max_countries,
        lambda n: f"The alert would add {n} countries; this step adds at most {params.max_countries} (maxCountries).")


async def undo_block_sign_in_country(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Remove only the countries this step added (and that are still listed); the others stay."""
    added = [str(c).upper() for c in step.result.get("added") or []]
    return await _remove_from_location(step, ctx, COUNTRIES, bool(added), lambda c: c.upper() in added)


def describe_block_sign_in_country(params: BlockSignInCountryParams, ctx: StepContext) -> str:
    wanted, never_blocked, _ = _plan(params, ctx.alert.entities.countries)
    spared = f" ({', '.join(never_blocked)} left out: neverBlock)" if never_blocked else ""
    if not wanted:
        return f"Would skip: the alert names no country to block{spared}."
    if len(wanted) > params.max_countries:
        return (f"Would add {', '.join(wanted)} to countryNamedLocation {params.named_location_id}, unless more "
                f"than maxCountries ({params.max_countries}) of them are not listed yet: then it adds none{spared}.")
    return (f"Would add {', '.join(wanted)} to countryNamedLocation {params.named_location_id} in tenant "
            f"{ctx.alert.tenant_id} (countries already listed are left as they are; a location no enabled Conditional "
            f"Access policy blocks is refused){spared}.")


register(Primitive(
    "block_sign_in_country", BlockSignInCountryParams,
    "Add the alert's countries to a countryNamedLocation that an enabled Conditional Access policy blocks "
    "(checked first; never the neverBlock countries). Rollback removes only the countries this step added.",
    ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"), (),
    idempotent=True, needs_user=False,
    handler=block_sign_in_country, describe=describe_block_sign_in_country, undo=undo_block_sign_in_country,
    example={"type": "block_sign_in_country", "namedLocationId": "5f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b",
             "neverBlock": ["AU"]},
))


# --- block_sign_in_ip ------------------------------------------------------------------------------
# `block_sign_in_ip` adds IP ranges (the playbook's `ranges`, the alert's addresses as single hosts) to an
# *untrusted* ipNamedLocation that a blocking Conditional Access policy references (graph-contract.md 11a, 11c):
# the same GET, then a PATCH with `"@odata.type": "#microsoft.graph.ipNamedLocation"` and the whole `ipRanges`
# list (the page does not say whether the list is merged or replaced, so the full list is sent: a replace is then
# right, and a merge harmless). Each range item carries its own type (`iPv4CidrRange` / `iPv6CidrRange`).
# A trusted location is refused: adding an attacker's address to it would *exempt* the attacker. So is a location
# no enabled Conditional Access policy blocks (`GET /identity/conditionalAccess/policies`, Policy.Read.All): the
# ranges would block nothing, and the step must not say it blocked them. The policy stays the operator's.

IP_TYPE = "#microsoft.graph.ipNamedLocation"
MAX_POLICY_PAGES = 20  # a tenant holds at most a few hundred policies
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _alert_hosts(ips: list[str]) -> tuple[list[Network], list[dict[str, str]]]:
    """(the alert's public addresses as /32 or /128 networks, deduplicated; the values left out and why)."""
    hosts: list[Network] = []
    ignored: list[dict[str, str]] = []
    for raw in ips:
        try:
            address = ipaddress.ip_address(str(raw).strip())
        except ValueError:
            ignored.append({"value": str(raw)[:64], "reason": "not an IP address"})
            continue
        if not address.is_global:
            ignored.append({"value": str(address), "reason": "not a public address"})
            continue
        host = ipaddress.ip_network(address)
        if host not in hosts:
            hosts.append(host)
    return hosts, ignored


def _ip_plan(params: BlockSignInIpParams, ips: list[str]) -> tuple[list[Network], list[str], list[dict[str, str]]]:
    """(ranges to block, in order: the playbook's then the alert's; alert addresses inside neverBlock; ignored)."""
    wanted: list[Network] = [ipaddress.ip_network(r) for r in params.ranges]
    hosts, ignored = _alert_hosts(ips) if params.from_alert else ([], [])
    spared = [ipaddress.ip_network(r) for r in params.never_block]
    never_blocked: list[str] = []
    for host in hosts:
        if any(s.version == host.version and host.subnet_of(s) for s in spared):  # type: ignore[arg-type]
            never_blocked.append(str(host))
        elif not any(w.version == host.version and host.subnet_of(w) for w in wanted):  # type: ignore[arg-type]
            wanted.append(host)
    return wanted, never_blocked, ignored


def _covered(network: Network, ranges: list[Network]) -> bool:
    return any(r.version == network.version and network.subnet_of(r) for r in ranges)  # type: ignore[arg-type]


def _cidrs(location: Any) -> list[str]:
    return [r.cidr_address for r in (location.ip_ranges or []) if getattr(r, "cidr_address", None)]


def _parsed(cidrs: list[str]) -> list[Network]:
    """The location's ranges; Graph accepts host bits set (its own example: 12.34.221.11/22), so loosely."""
    out: list[Network] = []
    for cidr in cidrs:
        try:
            out.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return out


def _blocks_from(policy: ConditionalAccessPolicy, location_id: str) -> bool:
    """Enabled (report-only enforces nothing), grants `block`, and includes the location without excluding it."""
    from msgraph.generated.models.conditional_access_grant_control import ConditionalAccessGrantControl
    from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState

    locations = policy.conditions.locations if policy.conditions else None
    controls = policy.grant_controls.built_in_controls if policy.grant_controls else None
    wanted = location_id.lower()
    return (policy.state == ConditionalAccessPolicyState.Enabled
            and ConditionalAccessGrantControl.Block in (controls or [])
            and locations is not None
            and wanted in {str(i).lower() for i in locations.include_locations or []}
            and wanted not in {str(e).lower() for e in locations.exclude_locations or []})


async def _blocking_policies(graph: GraphServiceClient, location_id: str) -> list[dict[str, Any]] | StepOutcome:
    """The enabled policies that block sign-ins from the location (Policy.Read.All): without one, the ranges
    added would block nothing."""
    builder = graph.identity.conditional_access.policies
    found: list[dict[str, Any]] = []
    try:
        page = await builder.get()
        for _ in range(MAX_POLICY_PAGES):
            if page is None:
                break
            found += [{"id": p.id, "displayName": p.display_name} for p in page.value or []
                      if _blocks_from(p, location_id)]
            if not page.odata_next_link:
                break
            page = await builder.with_url(page.odata_next_link).get()
    except odata_error() as exc:
        error = from_odata(exc)
        return StepOutcome.failed(error.code, error.message)
    return found


async def _enforced_by_a_policy(graph: GraphServiceClient, location_id: str, label: dict[str, Any],
                                extra: dict[str, Any]) -> list[dict[str, Any]] | StepOutcome:
    """The policies that block sign-ins from the location, or the failed outcome: a read error, or none (what
    the step would add to the location would block nothing, and it must not say it blocked it)."""
    blocked_by = await _blocking_policies(graph, location_id)
    if isinstance(blocked_by, StepOutcome):
        blocked_by.result.update({"namedLocation": label, **extra})
        return blocked_by
    if not blocked_by:
        return StepOutcome.failed(
            "not_blocked_by_policy",
            f"No enabled Conditional Access policy blocks access from named location {location_id}: adding to it "
            "would block nothing. Include it in a policy that blocks access (grant control: block).",
            {"namedLocation": label, **extra})
    return blocked_by


def _ip_model() -> type:
    from msgraph.generated.models.ip_named_location import IpNamedLocation

    return IpNamedLocation


def _ip_body(current: IpNamedLocation, cidrs: list[str]) -> IpNamedLocation:
    from msgraph.generated.models.i_pv4_cidr_range import IPv4CidrRange
    from msgraph.generated.models.i_pv6_cidr_range import IPv6CidrRange
    from msgraph.generated.models.ip_named_location import IpNamedLocation

    ranges = [IPv6CidrRange(cidr_address=c) if ":" in c else IPv4CidrRange(cidr_address=c) for c in cidrs]
    return IpNamedLocation(odata_type=IP_TYPE, display_name=current.display_name, ip_ranges=ranges,
                           is_trusted=current.is_trusted)


def _refuse_trusted(location: IpNamedLocation, location_id: str, result: dict[str, Any]) -> StepOutcome | None:
    if not location.is_trusted:
        return None
    return StepOutcome.failed(
        "trusted_location",
        f"Named location {location_id} is marked trusted: adding addresses to it would exempt them, not block "
        "them. Name an untrusted ipNamedLocation that a blocking Conditional Access policy uses.", result)


IP_RANGES = LocationKind(
    "not_an_ip_location", "not an ipNamedLocation; IP ranges cannot be added to it", "ipRanges", "range", "ranges",
    _ip_model, _cidrs, _ip_body, refuse=_refuse_trusted, never_empty=True)


async def block_sign_in_ip(params: BlockSignInIpParams, ctx: StepContext) -> StepOutcome:
    wanted, never_blocked, ignored = _ip_plan(params, ctx.alert.entities.ips)
    nothing = None if wanted else "only addresses in neverBlock" if never_blocked else "no public IP address"

    def split(before: list[str]) -> tuple[list[str], list[str]]:
        present = _parsed(before)
        return ([str(n) for n in wanted if not _covered(n, present)],
                [str(n) for n in wanted if _covered(n, present)])

    return await _add_to_location(
        ctx, IP_RANGES, params.named_location_id, _reported(never_blocked, ignored), nothing, split, params.max_ranges,
        lambda n: f"The step would add {n} ranges; it adds at most {params.max_ranges} (maxRanges).")


def _same_range(cidr: str, added: set[Network]) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False) in added
    except ValueError:
        return False


async def undo_block_sign_in_ip(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Remove exactly the ranges this step added (still listed, however Graph spells them); the others stay.
    The last range of a location is not removed: Graph requires at least one."""
    added = {ipaddress.ip_network(c) for c in step.result.get("added") or []}
    return await _remove_from_location(step, ctx, IP_RANGES, bool(added), lambda c: _same_range(c, added))


def describe_block_sign_in_ip(params: BlockSignInIpParams, ctx: StepContext) -> str:
    wanted, never_blocked, _ = _ip_plan(params, ctx.alert.entities.ips)
    spared = f" ({', '.join(never_blocked)} left out: neverBlock)" if never_blocked else ""
    if not wanted:
        return f"Would skip: there is no public IP address to block{spared}."
    names = ", ".join(str(n) for n in wanted)
    if len(wanted) > params.max_ranges:
        return (f"Would add {names} to ipNamedLocation {params.named_location_id}, unless more than maxRanges "
                f"({params.max_ranges}) of them are not covered yet: then it adds none{spared}.")
    return (f"Would add {names} to ipNamedLocation {params.named_location_id} in tenant {ctx.alert.tenant_id} "
            f"(ranges already covered are left as they are; a trusted location, or one no enabled Conditional Access "
            f"policy blocks, is refused){spared}.")


register(Primitive(
    "block_sign_in_ip", BlockSignInIpParams,
    "Add IP ranges (the playbook's, and the alert's addresses) to an untrusted ipNamedLocation that an enabled "
    "Conditional Access policy blocks (checked first; never the neverBlock ranges). Rollback removes only the "
    "ranges this step added.",
    ("Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"), (),
    idempotent=True, needs_user=False,
    handler=block_sign_in_ip, describe=describe_block_sign_in_ip, undo=undo_block_sign_in_ip,
    example={"type": "block_sign_in_ip", "namedLocationId": "7c2e4a91-0b5d-4f3e-9a6c-1d8e2f4b6a10",
             "ranges": ["102.89.34.0/24"], "neverBlock": ["2c0f:f4c0::/32"]},
))
