"""Graph sandbox: a local, stateful, multi-tenant fake of Microsoft Graph v1.0 (see docs/sandbox.md)."""

from .app import create_app
from .background import SandboxServer
from .state import SandboxState

__all__ = ["SandboxServer", "SandboxState", "create_app"]
