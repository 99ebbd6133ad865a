"""``python -m sandbox.mint_token <tenant-id>``: print a bearer token the sandbox accepts (for curl)."""

from __future__ import annotations

import argparse

from .tokens import mint_token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.mint_token", description=__doc__)
    parser.add_argument("tenant_id")
    parser.add_argument("--lifetime", type=int, default=3600, help="seconds (negative: already expired)")
    args = parser.parse_args(argv)
    print(mint_token(args.tenant_id, lifetime_s=args.lifetime))


if __name__ == "__main__":
    main()
