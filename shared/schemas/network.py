"""Parameter schemas of shared/primitives/network.py's primitives."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from shared.api_model import CamelModel
from shared.models.tenant import Guid

MAX_COUNTRIES = 50
_ALPHA2 = re.compile(r"^[A-Z]{2}$")


def _country_code(value: str) -> str:
    code = value.strip().upper()
    if not _ALPHA2.match(code):
        raise ValueError("must be an ISO 3166-1 alpha-2 country code (two letters)")
    return code


CountryCode = Annotated[str, AfterValidator(_country_code)]


class BlockSignInCountryParams(CamelModel):
    type: Literal["block_sign_in_country"]
    destructive: ClassVar[bool] = False
    named_location_id: Guid  # a countryNamedLocation referenced by a blocking Conditional Access policy
    never_block: list[CountryCode] = Field(default_factory=list, max_length=MAX_COUNTRIES)
    # Adding more countries than this from one alert is refused (nothing is added).
    max_countries: int = Field(default=5, ge=1, le=MAX_COUNTRIES)


# --- block_sign_in_ip ------------------------------------------------------------------------------
MAX_RANGES = 50
# Riposte's own bounds: a wider range blocks a large part of the internet, not an attacker.
MIN_PREFIX = {4: 8, 6: 32}


def _public_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A public CIDR range; a bare address is one host (/32 or /128). Raises ValueError with the reason."""
    text = value.strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            loose = ipaddress.ip_network(text, strict=False)
            raise ValueError(f"has host bits set (did you mean {loose}?)") from None
        raise ValueError("must be an IPv4 or IPv6 address or CIDR range, e.g. 102.89.34.0/24 or 2c0f:f4c0::/32") \
            from None
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise ValueError(f"is wider than /{MIN_PREFIX[network.version]}: it would block far more than an attacker")
    if not network.is_global:
        raise ValueError("is not a public address range (private, shared, loopback, link-local, multicast or "
                         "reserved): Entra sees sign-ins from public addresses only")
    return network


def _cidr_range(value: str) -> str:
    return str(_public_network(value))


CidrRange = Annotated[str, AfterValidator(_cidr_range)]


class BlockSignInIpParams(CamelModel):
    type: Literal["block_sign_in_ip"]
    destructive: ClassVar[bool] = False
    named_location_id: Guid = Field(description=(
        "an untrusted ipNamedLocation that an enabled Conditional Access policy blocks"))
    never_block: list[CidrRange] = Field(default_factory=list, max_length=MAX_RANGES, description=(
        "public CIDR ranges never added (the company's own egress, its VPN): an alert address inside one is "
        "left out"))
    ranges: list[CidrRange] = Field(default_factory=list, max_length=MAX_RANGES, description=(
        "public CIDR ranges (IPv4 /8 or narrower, IPv6 /32 or narrower; a bare address is one host) this step "
        "always blocks"))
    from_alert: bool = Field(default=True, description=(
        "also block the alert's public IP addresses, each as one host (/32 or /128)"))
    max_ranges: int = Field(default=5, ge=1, le=MAX_RANGES, description=(
        "more new ranges than this from one alert: nothing is added"))

    @field_validator("ranges")
    @classmethod
    def _not_never_blocked(cls, ranges: list[str], info: ValidationInfo) -> list[str]:
        spared = [ipaddress.ip_network(r) for r in info.data.get("never_block") or []]
        for index, value in enumerate(ranges):
            network = ipaddress.ip_network(value)
            clash = next((s for s in spared if s.version == network.version and network.overlaps(s)), None)
            if clash is not None:
                raise ValueError(f"{value} (item {index}) overlaps neverBlock range {clash}")
        return ranges

    @model_validator(mode="after")
    def _something_to_block(self) -> BlockSignInIpParams:
        if not self.ranges and not self.from_alert:
            raise ValueError("ranges is empty and fromAlert is false: the step would block nothing")
        return self
