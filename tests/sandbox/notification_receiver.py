"""A notification endpoint for subscription tests: echoes Graph's validationToken (or misbehaves on
purpose) and keeps every notification it was sent."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class NotificationReceiver:
    """``mode``: "echo" (answer the token), "wrong" (answer something else), "status" (answer 500),
    "slow" (wait ``delay_s`` before echoing)."""

    def __init__(self, mode: str = "echo", delay_s: float = 0.0) -> None:
        self.mode = mode
        self.delay_s = delay_s
        self.validations: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                token = parse_qs(urlsplit(self.path).query).get("validationToken")
                if token:
                    receiver._validate(self, token[0])
                    return
                with receiver._changed:
                    receiver.notifications.append({"path": urlsplit(self.path).path, **json.loads(body)})
                    receiver._changed.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def _validate(self, handler: BaseHTTPRequestHandler, token: str) -> None:
        with self._changed:
            self.validations.append(token)
        if self.mode == "slow":
            time.sleep(self.delay_s)
        status, text = (500, "") if self.mode == "status" else (200, "nope" if self.mode == "wrong" else token)
        data = text.encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the sandbox gave up waiting

    def url(self, path: str = "/notify") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The notifications once at least ``count`` have arrived (fails after ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.notifications) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"only {len(self.notifications)} of {count} notifications arrived"
                self._changed.wait(left)
            return list(self.notifications)

    def __enter__(self) -> NotificationReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
