"""Collecting an alert's entities: cleaned, deduplicated (the same user seen twice becomes one, with the
fields of both), and capped, so a source that lists the same account in ten evidence items or a hostile
payload with a million IPs yields a short, usable list."""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.models.alert import AlertEntities, DeviceEntity, UserEntity
from shared.models.subject import platform_of, stated_user_type

MAX_PER_KIND = 100
_MAX_NAME = 256


class EntityCollector:
    def __init__(self) -> None:
        self._users: list[UserEntity] = []
        self._devices: list[DeviceEntity] = []
        self._ips: dict[str, None] = {}
        self._countries: dict[str, None] = {}
        self._mailboxes: dict[str, None] = {}

    def add_user(self, *, id: Any = None, upn: Any = None, display_name: Any = None, user_type: Any = None) -> None:
        """A user, kept only if it has an Entra object id (a GUID) or a UPN: nothing can act on a bare name.
        `user_type`: the type the source states (admin, guest, member: shared/models/subject.py); else dropped."""
        user_id, user_upn = lenient.guid(id), lenient.email_address(upn)
        if user_id is None and user_upn is None:
            return
        name = lenient.text(display_name, max_len=_MAX_NAME)
        kind = stated_user_type(user_type)
        for index, known in enumerate(self._users):
            if (user_id and known.id == user_id) or (user_upn and known.upn == user_upn):
                if (known.id and user_id and known.id != user_id) or (known.upn and user_upn and known.upn != user_upn):
                    continue  # shares one key but contradicts the other: a different user
                self._users[index] = UserEntity(id=known.id or user_id, upn=known.upn or user_upn,
                                                display_name=known.display_name or name,
                                                user_type=known.user_type or kind)
                return
        if len(self._users) < MAX_PER_KIND:
            self._users.append(UserEntity(id=user_id, upn=user_upn, display_name=name, user_type=kind))

    def add_device(self, *, id: Any = None, name: Any = None, azure_ad_device_id: Any = None,
                   operating_system: Any = None) -> None:
        """A device with at least one of: the source's id, a name, an Entra device id (GUID). `operating_system`:
        as the source names it (Defender's osPlatform, Intune's operatingSystem); kept as its platform, if any."""
        device_id = lenient.short_text(id)
        device_name = lenient.text(name, max_len=_MAX_NAME)
        aad_id = lenient.guid(azure_ad_device_id)
        if device_id is None and device_name is None and aad_id is None:
            return
        platform = platform_of(lenient.short_text(operating_system))
        for index, known in enumerate(self._devices):
            same = ((device_id and known.id == device_id) or (aad_id and known.azure_ad_device_id == aad_id)
                    or (device_name and known.name and known.name.casefold() == device_name.casefold()))
            if same:
                self._devices[index] = DeviceEntity(id=known.id or device_id, name=known.name or device_name,
                                                    azure_ad_device_id=known.azure_ad_device_id or aad_id,
                                                    platform=known.platform or platform)
                return
        if len(self._devices) < MAX_PER_KIND:
            self._devices.append(DeviceEntity(id=device_id, name=device_name, azure_ad_device_id=aad_id,
                                              platform=platform))

    def add_ip(self, value: Any) -> None:
        _add_unique(self._ips, lenient.ip_address(value))

    def add_country(self, value: Any) -> None:
        _add_unique(self._countries, lenient.country_code(value))

    def add_mailbox(self, value: Any) -> None:
        _add_unique(self._mailboxes, lenient.email_address(value))

    def build(self) -> AlertEntities:
        return AlertEntities(users=list(self._users), devices=list(self._devices), ips=list(self._ips),
                             countries=list(self._countries), mailboxes=list(self._mailboxes))


def _add_unique(seen: dict[str, None], value: str | None) -> None:
    if value is not None and len(seen) < MAX_PER_KIND:
        seen.setdefault(value, None)
