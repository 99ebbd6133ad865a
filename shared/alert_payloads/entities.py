"""Collecting an alert's entities: cleaned, deduplicated (the same user seen twice becomes one, with the
fields of both), and capped, so a source that lists the same account in ten evidence items or a hostile
payload with a million IPs yields a short, usable list."""

from __future__ import annotations

from typing import Any

from shared.alert_payloads import lenient
from shared.models.alert import AlertEntities, DeviceEntity, FileEntity, UserEntity
from shared.models.subject import platform_of, stated_user_type

MAX_PER_KIND = 100
_MAX_NAME = 256
_MAX_PATH = 1024


class EntityCollector:
    def __init__(self) -> None:
        self._users: list[UserEntity] = []
        self._devices: list[DeviceEntity] = []
        self._ips: dict[str, None] = {}
        self._countries: dict[str, None] = {}
        self._mailboxes: dict[str, None] = {}
        self._files: list[FileEntity] = []
        self._urls: dict[str, None] = {}
        self._domains: dict[str, None] = {}

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

    def add_file(self, *, sha1: Any = None, sha256: Any = None, md5: Any = None, name: Any = None,
                 path: Any = None) -> None:
        """A file with at least one valid hash (an invalid one is dropped); the same file (a hash in common, none
        contradicting) seen again is merged."""
        hashes = {k: v for k, v in (("sha1", lenient.file_hash(sha1, "sha1")),
                                    ("sha256", lenient.file_hash(sha256, "sha256")),
                                    ("md5", lenient.file_hash(md5, "md5"))) if v}
        if not hashes:
            return
        file_name, file_path = lenient.text(name, max_len=_MAX_NAME), lenient.text(path, max_len=_MAX_PATH)
        for index, known in enumerate(self._files):
            known_hashes = known.hashes()
            shared = [k for k in hashes if k in known_hashes]
            if shared and all(known_hashes[k] == hashes[k] for k in shared):
                self._files[index] = FileEntity(**(hashes | known_hashes), name=known.name or file_name,
                                                path=known.path or file_path)
                return
        if len(self._files) < MAX_PER_KIND:
            self._files.append(FileEntity(**hashes, name=file_name, path=file_path))

    def add_url(self, value: Any) -> None:
        _add_unique(self._urls, lenient.url(value))

    def add_domain(self, value: Any) -> None:
        _add_unique(self._domains, lenient.domain_name(value))

    def build(self) -> AlertEntities:
        return AlertEntities(users=list(self._users), devices=list(self._devices), ips=list(self._ips),
                             countries=list(self._countries), mailboxes=list(self._mailboxes),
                             files=list(self._files), urls=list(self._urls), domains=list(self._domains))


def _add_unique(seen: dict[str, None], value: str | None) -> None:
    if value is not None and len(seen) < MAX_PER_KIND:
        seen.setdefault(value, None)
