"""Parameter schemas of shared/primitives/network.py's primitives."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

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
