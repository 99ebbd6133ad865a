"""What the SSRF guard costs an outbound delivery (call_webhook, chat, PSA): CPU per request, guarded or not.

Method: the sandbox as its own process (its CPU not counted); BENCH_OUTBOUND_REQUESTS POSTs of a 2 KB JSON body to
`/_sandbox/health` (a GET route: it answers 405, a whole exchange with no receiver's work in it), with
BENCH_OUTBOUND_CONCURRENCY in flight, after a warm-up round. CPU of this process per request (`time.process_time`),
the two clients alternated, twice:
- shared/outbound_http.py's client (what webhooks, chat and PSA used before);
- shared/outbound_guard.py's client with the sandbox's loopback address listed (what they use now);
each with keep-alive (the guard acts only when a connection opens) and with a new connection per request
(`Connection: close`: every request resolves, checks and connects).
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from benchmarks.sandbox_process import running_sandbox
from shared import outbound_guard, outbound_http

REQUESTS = int(os.environ.get("BENCH_OUTBOUND_REQUESTS", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_OUTBOUND_CONCURRENCY", "8"))
BODY = b'{"type":"riposte.alert","message":"' + b"x" * 2000 + b'"}'


async def measure(label: str, client: httpx.AsyncClient, url: str, close: bool) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    headers = {"Content-Type": "application/json"} | ({"Connection": "close"} if close else {})

    async def one() -> None:
        async with gate:
            await client.post(url, content=BODY, headers=headers)

    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))  # warm-up: the connections
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(REQUESTS)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    print(f"  {label}: {cpu / REQUESTS * 1000:.3f} ms CPU per request, {wall:.1f} s wall")


async def main(url: str) -> None:
    print(f"{REQUESTS} POSTs, {CONCURRENCY} in flight, HTTP/1.1 to the sandbox:")
    plain = outbound_http.client()
    guarded = outbound_guard.client(frozenset({"127.0.0.1"}))
    for close in (False, True):
        kind = "a new connection per request" if close else "keep-alive"
        for _ in range(2):  # alternated: the machine is shared
            await measure(f"{kind}, outbound_http (unguarded)", plain, url, close)
            await measure(f"{kind}, outbound_guard (guarded)  ", guarded, url, close)


if __name__ == "__main__":
    with running_sandbox() as origin:
        asyncio.run(main(f"{origin}/_sandbox/health"))
