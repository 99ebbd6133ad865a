"""One module per console section; importing this package registers every page in routing.ROUTER."""

from shared.console.pages import home  # noqa: F401
