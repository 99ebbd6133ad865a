"""A scheduled trigger as saved with a playbook: when (NCRONTAB + IANA time zone) and whom (a population query).

Validated on save, so a stored schedule always parses: a bad expression, an unknown zone, an unknown query
or a threshold out of range is a 400 naming the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field, field_validator

from shared.api_model import CamelModel
from shared.ncrontab import Schedule


class PopulationQuery(StrEnum):
    INACTIVE_USERS = "inactiveUsers"  # no sign-in for N days
    MFA_NOT_REGISTERED = "mfaNotRegistered"  # userRegistrationDetails isMfaRegistered eq false
    NONCOMPLIANT_DEVICES = "noncompliantDevices"  # non-compliant for more than N hours
    GUESTS_NEVER_SIGNED_IN = "guestsNeverSignedIn"  # guests invited more than N days ago, never signed in


# The Graph application permissions each query reads with (shared/schedules/populations.py; in every customer
# tenant of a scheduled playbook's scope).
POPULATION_PERMISSIONS: dict[PopulationQuery, tuple[str, ...]] = {
    PopulationQuery.INACTIVE_USERS: ("User.Read.All", "AuditLog.Read.All"),  # signInActivity needs AuditLog
    PopulationQuery.MFA_NOT_REGISTERED: ("UserAuthenticationMethod.Read.All",),
    PopulationQuery.NONCOMPLIANT_DEVICES: ("DeviceManagementManagedDevices.Read.All",),
    PopulationQuery.GUESTS_NEVER_SIGNED_IN: ("User.Read.All", "AuditLog.Read.All"),
}


class ScheduleSpec(CamelModel):
    cron: str = Field(min_length=1, max_length=200)  # NCRONTAB: second minute hour day month day-of-week
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)  # IANA, e.g. "Australia/Sydney"

    @field_validator("cron")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            schedule = Schedule.parse(value)
        except ValueError as exc:
            raise ValueError(f"not an NCRONTAB expression: {exc}") from None
        # The timer looks every minute, so a population is evaluated at most once a minute.
        if len(schedule.seconds) != 1:
            raise ValueError("the seconds field must be one value (a population is evaluated at most once a "
                             "minute), e.g. '0 0 7 * * 1-5'")
        schedule.next_after(datetime.now(UTC).replace(tzinfo=None))  # "never fires within a year" (e.g. 30 Feb)
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # available_timezones() first: ZoneInfo() also opens paths like "../etc/x" relative to the tz database.
        if value not in available_timezones():
            raise ValueError(f"unknown IANA time zone '{value}'")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone '{value}'") from None
        return value

    @property
    def parsed(self) -> Schedule:
        return Schedule.parse(self.cron)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class InactiveUsers(CamelModel):
    query: Literal[PopulationQuery.INACTIVE_USERS]
    days: int = Field(ge=1, le=3650)


class MfaNotRegistered(CamelModel):
    query: Literal[PopulationQuery.MFA_NOT_REGISTERED]


class NoncompliantDevices(CamelModel):
    query: Literal[PopulationQuery.NONCOMPLIANT_DEVICES]
    hours: int = Field(ge=1, le=8760)


class GuestsNeverSignedIn(CamelModel):
    query: Literal[PopulationQuery.GUESTS_NEVER_SIGNED_IN]
    days: int = Field(default=0, ge=0, le=3650)  # invited at least this long ago (time to accept)


Population = Annotated[Union[InactiveUsers, MfaNotRegistered, NoncompliantDevices, GuestsNeverSignedIn],  # noqa: UP007
                       Field(discriminator="query")]
