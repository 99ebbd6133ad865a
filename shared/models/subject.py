"""Who and what an alert is about, as trigger conditions name them: the user's type and the device's platform.

One spelling for both sides of a match: the values a trigger lists (`trigger.userTypes`, `trigger.devicePlatforms`)
and the values read from an alert or from Graph are mapped here.

- A user's type is `admin` when they hold an active Entra directory role (directly or through a role-assignable
  group), otherwise Graph's `userType`: `member` or `guest`. The three are exclusive: `["member"]` does not match
  an admin (list both to match either).
- A device's platform is its operating system's family: Defender's `osPlatform` ("Windows11", "WindowsServer2019",
  "macOS", ...), Intune's and Entra's `operatingSystem` ("Windows", "iOS", "iPadOS", "AndroidForWork", ...).
"""

from __future__ import annotations

from enum import StrEnum


class UserType(StrEnum):
    ADMIN = "admin"
    GUEST = "guest"
    MEMBER = "member"


class DevicePlatform(StrEnum):
    WINDOWS = "windows"
    MACOS = "macOS"
    IOS = "iOS"
    ANDROID = "android"
    LINUX = "linux"


# Lower-cased operating-system name prefixes -> platform, longest first where prefixes overlap.
_PLATFORM_PREFIXES: tuple[tuple[str, DevicePlatform], ...] = (
    ("windows", DevicePlatform.WINDOWS),
    ("macos", DevicePlatform.MACOS), ("mac os", DevicePlatform.MACOS), ("macmdm", DevicePlatform.MACOS),
    ("osx", DevicePlatform.MACOS),
    ("ios", DevicePlatform.IOS), ("ipados", DevicePlatform.IOS), ("iphone", DevicePlatform.IOS),
    ("ipad", DevicePlatform.IOS),
    ("android", DevicePlatform.ANDROID),
    ("linux", DevicePlatform.LINUX), ("ubuntu", DevicePlatform.LINUX), ("redhat", DevicePlatform.LINUX),
    ("red hat", DevicePlatform.LINUX), ("debian", DevicePlatform.LINUX), ("centos", DevicePlatform.LINUX),
    ("suse", DevicePlatform.LINUX),
)
_BY_CASEFOLD = {platform.value.casefold(): platform for platform in DevicePlatform}


def platform_of(operating_system: object) -> DevicePlatform | None:
    """The platform of an operating-system name as Microsoft's services spell it; None when it is none of ours."""
    if not isinstance(operating_system, str):
        return None
    name = operating_system.strip().casefold()
    if name in _BY_CASEFOLD:
        return _BY_CASEFOLD[name]
    return next((platform for prefix, platform in _PLATFORM_PREFIXES if name.startswith(prefix)), None)


def parse_platform(value: object) -> object:
    """A trigger's spelling of a platform, case-insensitively ("MacOS" -> "macOS"); anything else as given, for the
    model to refuse with the accepted values."""
    return _BY_CASEFOLD.get(value.strip().casefold(), value) if isinstance(value, str) else value


def graph_user_type(value: object) -> UserType | None:
    """Graph's `userType` ("Member" / "Guest", any case) as a type; None for anything else (or none)."""
    if not isinstance(value, str):
        return None
    found = value.strip().casefold()
    return UserType(found) if found in (UserType.MEMBER, UserType.GUEST) else None


def stated_user_type(value: object) -> UserType | None:
    """A type as an alert states it (riposte.alert.v1's `users[].userType`): admin, guest or member, any case."""
    if not isinstance(value, str):
        return None
    found = value.strip().casefold()
    return UserType(found) if found in set(UserType) else None
