"""Azure Resource Manager: the app's managed identity reaching ARM resources (Sentinel incidents)."""

from shared.arm.access import ArmAccess
from shared.arm.client import ArmClient, ArmError, ArmResponse, ArmRetryPolicy

__all__ = ["ArmAccess", "ArmClient", "ArmError", "ArmResponse", "ArmRetryPolicy"]
