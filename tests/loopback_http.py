"""A loopback HTTP server for one test: subclass it, write `_handle`, use it as an async context manager."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LoopbackServer:
    """Serves every method and path with `_handle` on 127.0.0.1 and a free port (`base_url`, `port`)."""

    runner: web.AppRunner | None = None
    port = 0
    base_url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()
