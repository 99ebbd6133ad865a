"""Parameter schemas of shared/primitives/machine_actions.py's primitives (Defender for Endpoint machine actions)."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from shared.api_model import CamelModel
from shared.durations import duration

MAX_MACHINES = 50
MAX_FILES = 20
# How long a step may follow its actions to their end (on durable timers, no activity held): a device that has not
# checked in within an hour is offline, and the playbook should go on and say so rather than wait longer.
MAX_COMPLETION_WAIT = timedelta(hours=1)
# Isolation and app restriction: what the next steps (an approval, a wipe) rely on, and a device online carries
# them out within a minute or two, so the step waits a few minutes for them by default.
STATE_COMPLETION_WAIT = timedelta(minutes=5)
WaitForCompletion = duration(minimum=timedelta(0), maximum=MAX_COMPLETION_WAIT)
WAIT_NOTE = ("how long the step follows its actions to Succeeded or Failed (re-checked on durable timers); PT0S: "
             "it records them Pending and goes on")


class MachineTargetParams(CamelModel):
    """For primitives that act on the Defender for Endpoint machines the alert's devices resolve to."""

    # Acting on more machines than this from one alert is refused: one noisy alert must not cut off an office.
    max_machines: int = Field(default=5, ge=1, le=MAX_MACHINES)
    # Written before Riposte's own note (playbook, run, alert) in the action's comment in Defender.
    comment: str | None = Field(default=None, min_length=1, max_length=500)
    # Scans and packages take long and nothing in a playbook waits on them: not followed unless asked.
    wait_for_completion: WaitForCompletion = Field(default=timedelta(0), description=WAIT_NOTE)


class IsolateMachineParams(MachineTargetParams):
    """Full: only Defender's own traffic passes. Selective: Outlook, Teams and Skype keep working (Windows)."""

    type: Literal["isolate_machine"]
    destructive: ClassVar[bool] = True  # the machine is cut off the network until released
    wait_for_completion: WaitForCompletion = Field(default=STATE_COMPLETION_WAIT, description=WAIT_NOTE)
    isolation_type: Literal["Full", "Selective"] = "Full"


class ReleaseMachineParams(MachineTargetParams):
    type: Literal["release_machine"]
    destructive: ClassVar[bool] = False
    wait_for_completion: WaitForCompletion = Field(default=STATE_COMPLETION_WAIT, description=WAIT_NOTE)


class RunAntivirusScanParams(MachineTargetParams):
    type: Literal["run_antivirus_scan"]
    destructive: ClassVar[bool] = False
    scan_type: Literal["Quick", "Full"] = "Quick"


class RestrictAppExecutionParams(MachineTargetParams):
    """Only Microsoft-signed code runs until the restriction is removed (Windows)."""

    type: Literal["restrict_app_execution"]
    destructive: ClassVar[bool] = True
    wait_for_completion: WaitForCompletion = Field(default=STATE_COMPLETION_WAIT, description=WAIT_NOTE)


class UnrestrictAppExecutionParams(MachineTargetParams):
    type: Literal["unrestrict_app_execution"]
    destructive: ClassVar[bool] = False
    wait_for_completion: WaitForCompletion = Field(default=STATE_COMPLETION_WAIT, description=WAIT_NOTE)


class CollectInvestigationPackageParams(MachineTargetParams):
    type: Literal["collect_investigation_package"]
    destructive: ClassVar[bool] = False


class StopAndQuarantineFileParams(MachineTargetParams):
    """Stops the file's processes and deletes it, keeping a copy in quarantine (Windows)."""

    type: Literal["stop_and_quarantine_file"]
    destructive: ClassVar[bool] = True  # the file is removed from the machine; Defender has no API to restore it
    sha1: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{40}$", description=(
        "the file's SHA-1; null: the SHA-1 of each file the alert names"))
    # More files than this from one alert: none is quarantined (a noisy alert must not empty a machine).
    max_files: int = Field(default=5, ge=1, le=MAX_FILES)
