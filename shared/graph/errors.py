"""Graph's error class, imported when an error is handled rather than when a module is.

Any `msgraph` import loads the package's `__init__`, and with it the SDK's whole client stack
(msgraph-core, kiota-http, httpx, azure-core: ~270 modules) on every cold start of the function app.
An `except` clause evaluates its class only when an exception reaches it, so `except odata_error() as exc:`
imports msgraph at that moment, when a Graph client has long been built and the import is a dict lookup.
Modules name `GraphServiceClient` and `ODataError` in annotations under `TYPE_CHECKING`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError


def odata_error() -> type[ODataError]:
    """The SDK's `ODataError`: what Graph's error answers raise (for `except` clauses and error maps)."""
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    return ODataError


def is_odata_error(exc: BaseException) -> bool:
    return isinstance(exc, odata_error())


def error_map() -> dict[str, type[ODataError]]:
    """The error mapping the SDK's request adapter takes: every error status raises `ODataError`."""
    return {"XXX": odata_error()}
