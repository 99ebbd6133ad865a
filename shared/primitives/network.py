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
    label = _location_label(location, location_id)
    blocked_by = await _enforced_by_a_policy(graph, location_id, label, extra)
    if isinstance(blocked_by, StepOutcome):
        return blocked_by
    before = list(location.countries_and_regions or [])
    present = {c.upper() for c in before}
    to_add = [c for c in wanted if c not in present]
    if len(to_add) > params.max_countries:
        return StepOutcome.failed(
            "too_many_targets",
            f"The alert would add {len(to_add)} countries; this step adds at most {params.max_countries} "
            "(maxCountries).", {"namedLocation": label, "toAdd": to_add, **extra})
    result = {"namedLocation": label | {"before": {"countriesAndRegions": before}}, "blockedBy": blocked_by,
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


async def _get_ip_location(graph: GraphServiceClient, location_id: str) -> IpNamedLocation | StepOutcome:
    from msgraph.generated.models.ip_named_location import IpNamedLocation

    try:
        location = await graph.identity.conditional_access.named_locations.by_named_location_id(location_id).get()
    except odata_error() as exc:
        error = from_odata(exc)
        return StepOutcome.failed(error.code, error.message, {"namedLocation": {"id": location_id}})
    if not isinstance(location, IpNamedLocation):
        kind = getattr(location, "odata_type", None) or type(location).__name__
        return StepOutcome.failed(
            "not_an_ip_location",
            f"Named location {location_id} is a {kind}, not an ipNamedLocation; IP ranges cannot be added to it.",
            {"namedLocation": _location_label(location, location_id) | {"odataType": kind}})
    return location


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


async def _patch_ranges(graph: GraphServiceClient, location_id: str, current: IpNamedLocation,
                        cidrs: list[str]) -> ODataError | None:
    from msgraph.generated.models.i_pv4_cidr_range import IPv4CidrRange
    from msgraph.generated.models.i_pv6_cidr_range import IPv6CidrRange
    from msgraph.generated.models.ip_named_location import IpNamedLocation

    ranges = [IPv6CidrRange(cidr_address=c) if ":" in c else IPv4CidrRange(cidr_address=c) for c in cidrs]
    body = IpNamedLocation(odata_type=IP_TYPE, display_name=current.display_name, ip_ranges=ranges,
                           is_trusted=current.is_trusted)
    try:
        await graph.identity.conditional_access.named_locations.by_named_location_id(location_id).patch(body)
    except odata_error() as exc:
        return exc
    return None


async def block_sign_in_ip(params: BlockSignInIpParams, ctx: StepContext) -> StepOutcome:
    alert = ctx.alert
    wanted, never_blocked, ignored = _ip_plan(params, alert.entities.ips)
    extra: dict[str, Any] = {k: v for k, v in {"neverBlocked": never_blocked, "ignored": ignored}.items() if v}
    if not wanted:
        why = "only addresses in neverBlock" if never_blocked else "no public IP address"
        return StepOutcome(StepStatus.SKIPPED, result=extra, reason=f"The alert names {why}.")
    if alert.tenant_id is None:
        return StepOutcome.skipped("The alert is not attributed to a tenant, so no named location can be changed.")
    location_id = params.named_location_id
    graph = ctx.tenant_graph()
    location = await _get_ip_location(graph, location_id)
    if isinstance(location, StepOutcome):
        location.result.update(extra)
        return location
    label = _location_label(location, location_id)
    if location.is_trusted:
        return StepOutcome.failed(
            "trusted_location",
            f"Named location {location_id} is marked trusted: adding addresses to it would exempt them, not block "
            "them. Name an untrusted ipNamedLocation that a blocking Conditional Access policy uses.",
            {"namedLocation": label, **extra})
    blocked_by = await _enforced_by_a_policy(graph, location_id, label, extra)
    if isinstance(blocked_by, StepOutcome):
        return blocked_by
    before = _cidrs(location)
    present = _parsed(before)
    to_add = [str(n) for n in wanted if not _covered(n, present)]
    if len(to_add) > params.max_ranges:
        return StepOutcome.failed(
            "too_many_targets",
            f"The step would add {len(to_add)} ranges; it adds at most {params.max_ranges} (maxRanges).",
            {"namedLocation": label, "toAdd": to_add, **extra})
    result = {"namedLocation": label | {"before": {"ipRanges": before}}, "blockedBy": blocked_by,
              "alreadyPresent": [str(n) for n in wanted if _covered(n, present)], **extra}
    if not to_add:  # idempotent: every range is already covered, no write
        result["namedLocation"]["after"] = {"ipRanges": before}
        return StepOutcome(StepStatus.SUCCEEDED, result=result | {"added": []})
    after = before + to_add
    failure = await _patch_ranges(graph, location_id, location, after)
    if failure is not None:
        error = from_odata(failure)
        return StepOutcome.failed(error.code, error.message, result | {"toAdd": to_add})
    result["namedLocation"]["after"] = {"ipRanges": after}
    return StepOutcome(StepStatus.SUCCEEDED, result=result | {"added": to_add})


def _same_range(cidr: str, added: set[Network]) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False) in added
    except ValueError:
        return False


async def undo_block_sign_in_ip(step: StepResult, ctx: StepContext) -> StepOutcome:
    """Remove exactly the ranges this step added (still listed, however Graph spells them); the others stay."""
    added = {ipaddress.ip_network(c) for c in step.result.get("added") or []}
    location_id = (step.result.get("namedLocation") or {}).get("id")
    if not added or not location_id:
        return StepOutcome(StepStatus.SUCCEEDED, result={"removed": [], "note": "the step added no range"})
    if ctx.alert.tenant_id is None:
        return StepOutcome.failed("no_tenant", "The alert is not attributed to a tenant.")
    graph = ctx.tenant_graph()
    location = await _get_ip_location(graph, location_id)
    if isinstance(location, StepOutcome):
        return location
    current = _cidrs(location)
    removed = [c for c in current if _same_range(c, added)]
    remaining = [c for c in current if not _same_range(c, added)]
    label = _location_label(location, location_id) | {"before": {"ipRanges": current}}
    if not removed:
        label["after"] = {"ipRanges": current}
        return StepOutcome(StepStatus.SUCCEEDED, result={"namedLocation": label, "removed": [],
                                                         "note": "the ranges were already gone"})
    if not remaining:  # Graph requires at least one range in an ipNamedLocation
        return StepOutcome.failed(
            "location_would_be_empty",
            f"Removing {', '.join(removed)} would leave named location {location_id} without any range, which "
            "Graph refuses; remove them by hand or add another range first.", {"namedLocation": label})
    failure = await _patch_ranges(graph, location_id, location, remaining)
    if failure is not None:
        error = from_odata(failure)
        return StepOutcome.failed(error.code, error.message, {"namedLocation": label})
    label["after"] = {"ipRanges": remaining}
    return StepOutcome(StepStatus.SUCCEEDED, result={"namedLocation": label, "removed": removed})


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
