"""Parameter schemas of shared/primitives/indicators.py: Defender for Endpoint indicators (IoCs).

Every value is checked and normalised when the playbook is saved, against what Defender's indicators API
accepts (post-ti-indicator): one IP address (no CIDR), a domain name, an http(s) URL, or a file hash
(SHA-1, SHA-256, MD5, hex), so a bad value is a 400 naming its field, not a failed run at 3 a.m.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from shared.api_model import CamelModel
from shared.durations import duration
from shared.schemas.network import MAX_RANGES, CidrRange

IndicatorType = Literal["IpAddress", "DomainName", "Url", "FileSha1", "FileSha256", "FileMd5"]
IndicatorAction = Literal["Block", "AlertAndBlock", "Allowed"]
DefenderSeverity = Literal["Informational", "Low", "Medium", "High"]
MAX_INDICATORS = 50
MAX_URL = 2048
_HASH_LENGTHS = {"FileSha1": 40, "FileSha256": 64, "FileMd5": 32}
_HEX = re.compile(r"^[0-9a-f]+$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _domain(text: str) -> str:
    domain = text.lower().rstrip(".")
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels) \
            or not labels[-1].isalpha():
        raise ValueError("must be a domain name such as evil.example (no scheme, path, port or wildcard)")
    return domain


def _ip(text: str) -> str:
    if "/" in text:
        raise ValueError("must be one IP address: Defender's indicators do not take CIDR ranges "
                         "(block_sign_in_ip takes ranges)")
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("must be an IPv4 or IPv6 address") from None
    if not address.is_global:
        raise ValueError("must be a public address (private, shared, loopback, link-local, multicast or "
                         "reserved addresses are not indicators)")
    return str(address)


def _url(text: str) -> str:
    if len(text) > MAX_URL or any(c.isspace() for c in text):
        raise ValueError(f"must be a URL without spaces, at most {MAX_URL} characters")
    parts = urlsplit(text if "://" in text else f"http://{text}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL such as https://evil.example/login")
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password")
    try:
        ipaddress.ip_address(parts.hostname)
    except ValueError:
        _domain(parts.hostname)  # raises with the reason
    return text


def normalized_value(kind: str, value: str) -> str:
    """The value as Riposte sends it (hashes and domains lower case, addresses canonical); ValueError says why not."""
    text = value.strip()
    if kind in _HASH_LENGTHS:
        lowered = text.lower()
        if len(lowered) != _HASH_LENGTHS[kind] or not _HEX.match(lowered):
            raise ValueError(f"must be a {kind.removeprefix('File')} hash: {_HASH_LENGTHS[kind]} hexadecimal "
                             "characters")
        return lowered
    if kind == "IpAddress":
        return _ip(text)
    if kind == "DomainName":
        return _domain(text)
    return _url(text)


class IndicatorSpec(CamelModel):
    indicator_type: IndicatorType
    value: str = Field(min_length=1, max_length=MAX_URL)

    @field_validator("value")
    @classmethod
    def _fits_its_type(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("indicator_type")
        return normalized_value(kind, value) if kind else value  # no type: its own error is reported

    def inside(self, ranges: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
        """An IpAddress indicator whose address lies in one of the ranges."""
        address = ipaddress.ip_address(self.value)
        return any(address in network for network in ranges)


class AddDefenderIndicatorParams(CamelModel):
    type: Literal["add_defender_indicator"]
    destructive: ClassVar[bool] = False
    action: IndicatorAction = Field(default="Block", description=(
        "what Defender does when a device meets the value; AlertAndBlock also raises alerts"))
    never_block: list[CidrRange] = Field(default_factory=list, max_length=MAX_RANGES, description=(
        "public CIDR ranges never submitted (the company's own egress, its VPN): an alert address inside one is "
        "left out, a listed IpAddress inside one is refused"))
    indicators: list[IndicatorSpec] = Field(default_factory=list, max_length=MAX_INDICATORS, description=(
        "`{\"indicatorType\": ..., \"value\": ...}`: `IpAddress` (one public address, no CIDR), `DomainName`, "
        "`Url` (http or https), `FileSha1`, `FileSha256`, `FileMd5` (hex)"))
    from_alert: bool = Field(default=False, description="also the alert's public IP addresses, as IpAddress")
    expires_after: duration(timedelta(hours=1), timedelta(days=365)) | None = Field(
        default=timedelta(days=30), description="ISO 8601 duration, PT1H to P365D; null: never expires")
    severity: DefenderSeverity | None = Field(default=None, description=(
        "null: the alert's severity (critical is High)"))
    max_indicators: int = Field(default=10, ge=1, le=MAX_INDICATORS, description=(
        "more indicators than this from one alert: none is submitted"))

    @field_validator("indicators")
    @classmethod
    def _not_never_blocked(cls, indicators: list[IndicatorSpec], info: ValidationInfo) -> list[IndicatorSpec]:
        spared = [ipaddress.ip_network(r) for r in info.data.get("never_block") or []]
        for index, spec in enumerate(indicators):
            if spec.indicator_type == "IpAddress" and spec.inside(spared):
                raise ValueError(f"{spec.value} (item {index}) is inside a neverBlock range")
        return indicators

    @model_validator(mode="after")
    def _something_sensible(self) -> AddDefenderIndicatorParams:
        if not self.indicators and not self.from_alert:
            raise ValueError("indicators is empty and fromAlert is false: the step would submit nothing")
        if self.from_alert and self.action == "Allowed":
            raise ValueError("fromAlert with action Allowed would allow addresses an alert named; list the "
                             "addresses to allow in indicators")
        return self
