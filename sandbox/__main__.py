"""``python -m sandbox --host 127.0.0.1 --port 7081``: run the Graph sandbox until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from .app import ACCESS_LOG_FORMAT, create_app, new_state
from .background import LOOPBACK_HOSTS
from .seed import SEEDS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="Local fake of Microsoft Graph v1.0.")
    parser.add_argument("--host", default="127.0.0.1", choices=sorted(LOOPBACK_HOSTS), help="loopback only")
    parser.add_argument("--port", type=int, default=7081)
    parser.add_argument("--seed", default="demo", choices=sorted(SEEDS))
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("sandbox")
    app = create_app(new_state(SEEDS[args.seed]))
    log.info("Graph sandbox (seed %s) on http://%s:%d/v1.0, control API under /_sandbox",
             args.seed, args.host, args.port)
    # run_app handles SIGINT and SIGTERM with a graceful shutdown; the access log is one line per request.
    web.run_app(app, host=args.host, port=args.port, access_log_format=ACCESS_LOG_FORMAT, print=None,
                handle_signals=True)
    log.info("Graph sandbox stopped")


if __name__ == "__main__":
    main()
