"""One module per console section; importing this package registers every page in routing.ROUTER."""

import shared.console.pages.approvals  # noqa: F401
from shared.console.pages import home  # noqa: F401
