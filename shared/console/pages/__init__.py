"""One module per console section; importing this package registers every page in routing.ROUTER."""

from shared.console.pages import approvals as approvals
from shared.console.pages import home  # noqa: F401
from shared.console.pages import playbooks as playbooks
