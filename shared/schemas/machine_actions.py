"""Parameter schemas of shared/primitives/machine_actions.py's primitives (Defender for Endpoint machine actions)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.api_model import CamelModel

MAX_MACHINES = 50


class MachineTargetParams(CamelModel):
    """For primitives that act on the Defender for Endpoint machines the alert's devices resolve to."""

    # Acting on more machines than this from one alert is refused: one noisy alert must not cut off an office.
    max_machines: int = Field(default=5, ge=1, le=MAX_MACHINES)
    # Written before Riposte's own note (playbook, run, alert) in the action's comment in Defender.
    comment: str | None = Field(default=None, min_length=1, max_length=500)


class IsolateMachineParams(MachineTargetParams):
    """Full: only Defender's own traffic passes. Selective: Outlook, Teams and Skype keep working (Windows)."""

    type: Literal["isolate_machine"]
    destructive: ClassVar[bool] = True  # the machine is cut off the network until released
    isolation_type: Literal["Full", "Selective"] = "Full"


class ReleaseMachineParams(MachineTargetParams):
    type: Literal["release_machine"]
    destructive: ClassVar[bool] = False


class RunAntivirusScanParams(MachineTargetParams):
    type: Literal["run_antivirus_scan"]
    destructive: ClassVar[bool] = False
    scan_type: Literal["Quick", "Full"] = "Quick"


class RestrictAppExecutionParams(MachineTargetParams):
    """Only Microsoft-signed code runs until the restriction is removed (Windows)."""

    type: Literal["restrict_app_execution"]
    destructive: ClassVar[bool] = True


class UnrestrictAppExecutionParams(MachineTargetParams):
    type: Literal["unrestrict_app_execution"]
    destructive: ClassVar[bool] = False


class CollectInvestigationPackageParams(MachineTargetParams):
    type: Literal["collect_investigation_package"]
    destructive: ClassVar[bool] = False


class StopAndQuarantineFileParams(MachineTargetParams):
    """Stops the file's processes and deletes it, keeping a copy in quarantine (Windows)."""

    type: Literal["stop_and_quarantine_file"]
    destructive: ClassVar[bool] = True  # the file is removed from the machine; Defender has no API to restore it
    sha1: str = Field(pattern=r"^[0-9a-fA-F]{40}$")
