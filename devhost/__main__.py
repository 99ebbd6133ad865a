"""`python -m devhost`: serve function_app.py on http://127.0.0.1:7071 until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from devhost.server import DevHost
from devhost.settings_file import load_local_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--app", default="function_app", help="module that defines `app`")
    parser.add_argument("--settings", type=Path, default=Path("local.settings.json"),
                        help="local.settings.json to load (skipped when absent)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    for noisy in ("azure", "aiohttp.access", "grpc", "durabletask"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.settings.exists():
        load_local_settings(args.settings)
    sys.path.insert(0, str(Path.cwd()))

    async def serve() -> None:
        host = DevHost(app_module=args.app, host=args.host, port=args.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await host.start()
        await stop.wait()
        logging.getLogger("devhost").info("stopping")
        await host.stop()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
