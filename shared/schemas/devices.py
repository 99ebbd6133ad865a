"""Parameter schemas of shared/primitives/devices.py's primitives."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, StrictBool

from shared.schemas.common import UserTargetParams

MAX_DEVICES = 50
Scope = Literal["alertDevices", "userDevices"]


class DeviceTargetParams(UserTargetParams):
    """`maxTargets` (users) applies with `scope: userDevices`; `maxDevices` always."""

    scope: Scope = "alertDevices"
    max_devices: int = Field(default=5, ge=1, le=MAX_DEVICES)


class WipeOptions(UserTargetParams):
    # Strict: "yes" or 1 must not silently decide how much of a device survives a wipe.
    keep_enrollment_data: StrictBool = False
    keep_user_data: StrictBool = False


class WipeDeviceParams(WipeOptions, DeviceTargetParams):
    type: Literal["wipe_device"]
    destructive: ClassVar[bool] = True


class RetireDeviceParams(DeviceTargetParams):
    type: Literal["retire_device"]
    destructive: ClassVar[bool] = True


class RemoteLockDeviceParams(DeviceTargetParams):
    type: Literal["remote_lock_device"]
    destructive: ClassVar[bool] = False


class SyncDeviceParams(DeviceTargetParams):
    type: Literal["sync_device"]
    destructive: ClassVar[bool] = False


class TerminateDevicesParams(WipeOptions):
    """Every managed device of the alert's users; more devices than `maxDevices`: none is wiped."""

    type: Literal["terminate_devices"]
    destructive: ClassVar[bool] = True
    max_devices: int = Field(default=10, ge=1, le=MAX_DEVICES)
