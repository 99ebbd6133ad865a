"""One module per console section; importing this package registers every page in routing.ROUTER."""

from shared.console.pages import (
    alerts,  # noqa: F401
    home,  # noqa: F401
    runs,  # noqa: F401
)
