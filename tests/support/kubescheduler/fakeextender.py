"""A scriptable scheduler extender for tests: an HTTP server with `filter` and `bind` verbs.

Records every request body byte for byte, and answers through handler callables (default: all
nodes pass, bind succeeds). Optional per-verb delay and status code to exercise the scheduler's
timeout and error paths. Plain `http.server` in a thread, optionally TLS.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def pass_all(args: dict[str, Any]) -> dict[str, Any]:
    """Filter that accepts every node it is given, answering in the same shape."""
    if args.get("NodeNames") is not None:
        return {"Nodes": None, "NodeNames": args["NodeNames"], "FailedNodes": {}, "Error": ""}
    return {"Nodes": args.get("Nodes"), "NodeNames": None, "FailedNodes": {}, "Error": ""}


def bind_ok(args: dict[str, Any]) -> dict[str, Any]:
    return {"Error": ""}


@dataclass
class FakeExtender:
    """Serve on 127.0.0.1:<random>; `url` is the urlPrefix to configure."""

    filter_handler: Handler = pass_all
    bind_handler: Handler = bind_ok
    tls_context: ssl.SSLContext | None = None
    delay_s: dict[str, float] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class _H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                verb = self.path.strip("/")
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append((verb, raw, dict(self.headers.items())))
                time.sleep(fake.delay_s.get(verb, 0.0))
                code = fake.status.get(verb, 200)
                if code != 200:
                    body = b"boom"
                else:
                    handler = {"filter": fake.filter_handler, "bind": fake.bind_handler}.get(verb)
                    if handler is None:
                        code, body = 404, b"no such verb"
                    else:
                        body = json.dumps(handler(json.loads(raw))).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._server.daemon_threads = True
        if self.tls_context is not None:
            self._server.socket = self.tls_context.wrap_socket(
                self._server.socket, server_side=True
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def bodies(self, verb: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for v, raw, _ in self.requests if v == verb]

    def __enter__(self) -> FakeExtender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
