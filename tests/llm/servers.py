"""Test servers on loopback: a small OpenAI-compatible completions server that can misbehave.

``FakeOpenAIServer`` answers ``POST /v1/completions`` like an OpenAI server with a deterministic
"model": the completion is a fixed word sequence tagged with the seed and choice index, one word
per token, cut at stop sequences or at ``max_tokens``. Faults are queued per request
(``server.faults = ["500", "429:1", "hang:2", "reset", "badjson"]``) and consumed in arrival
order; ``always`` repeats one fault forever. It records every request with its arrival time and
the most requests it ever had in flight, so tests can check retries, delays and concurrency.
``GET /v1/models`` lists ``server.models`` (with a fresh ``created`` time on every answer, as vLLM
does); ``models = None`` answers 404, like a server without that route; ``get_fault = "reset"``
drops every GET (/models, /props), like a server that is not up yet.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = "the quick brown fox jumps over the lazy dog ### and then it sleeps".split()


def fake_completion(prompt: str, max_tokens: int, stop: list[str], seed: Any,
                    index: int) -> tuple[str, str, int]:
    """The fake model: returns (text, finish_reason, completion_tokens)."""
    words = [f"s{seed}c{index}"] + WORDS
    text = ""
    for count, word in enumerate(words, start=1):
        text += " " + word
        for s in stop:
            if s in text:
                return text[:text.index(s)], "stop", count
        if count == max_tokens and count < len(words):
            return text, "length", count
    return text, "stop", len(words)


class FakeOpenAIServer:
    def __init__(self, max_n: int | None = None, delay: float = 0.0) -> None:
        self.faults: list[str] = []
        self.always: str | None = None
        self.max_n = max_n            # servers like llama.cpp's return one choice whatever n is
        self.delay = delay            # seconds each good answer takes, to observe concurrency
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.models: list[dict[str, Any]] | None = [{"id": "fake-model", "owned_by": "test"}]
        self.slots: int | None = None         # llama.cpp's GET /props total_slots, when set
        self.cached_tokens = 0                # reported as usage.prompt_tokens_details (vLLM)
        self.model_requests = 0
        self.get_fault: str | None = None     # "reset": GETs are dropped
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def next_fault(self, payload: dict[str, Any], headers: dict[str, str]) -> str | None:
        with self._lock:
            self.requests.append(payload)
            self.headers.append(headers)
            self.times.append(time.monotonic())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.faults.pop(0) if self.faults else self.always

    def done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        time.sleep(self.delay)
        n = int(payload.get("n", 1))
        n = min(n, self.max_n) if self.max_n else n
        prompt_tokens = len(str(payload["prompt"]).split())
        choices, used = [], 0
        for i in range(n):
            text, reason, count = fake_completion(
                payload["prompt"], int(payload.get("max_tokens", 16)),
                list(payload.get("stop") or []), payload.get("seed"), i)
            choices.append({"index": i, "text": text, "finish_reason": reason, "logprobs": None})
            used += count
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": used,
                 "total_tokens": prompt_tokens + used}
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, prompt_tokens)}
        return {"id": "cmpl-test", "object": "text_completion", "model": payload.get("model"),
                "choices": choices, "usage": usage}


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        _counted = False      # this request is counted in the server's in_flight

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            server.model_requests += 1
            if server.get_fault == "reset":
                return self._reset()
            if self.path == "/props" and server.slots:
                return self._send(200, json.dumps({"total_slots": server.slots}).encode())
            if self.path.rstrip("/") != "/v1/models" or server.models is None:
                return self._send(404, b'{"error": "not found"}')
            data = [{**m, "object": "model", "created": time.time()} for m in server.models]
            self._send(200, json.dumps({"object": "list", "data": data}).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length))
            fault = server.next_fault(payload, dict(self.headers))
            self._counted = True
            try:
                self._serve(fault, payload)
            finally:
                self._leave()

        def _leave(self) -> None:
            # A request stops being in flight before its answer is written: the client may send
            # its next request the moment it reads this one, before this thread runs again.
            if self._counted:
                self._counted = False
                server.done()

        def _serve(self, fault: str | None, payload: dict[str, Any]) -> None:
            kind, _, arg = (fault or "").partition(":")
            if kind == "reset":
                return self._reset()
            if kind == "hang":
                time.sleep(float(arg or 5))
                return self._reset()
            if kind in ("500", "503", "400", "429"):
                headers = {"Retry-After": arg} if arg else {}
                return self._send(int(kind), b'{"error": "injected failure %s"}' % kind.encode(),
                                  headers)
            if kind == "badjson":
                return self._send(200, b'{"choices": [{"text": "unterminated')
            self._send(200, json.dumps(server.answer(payload)).encode())

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self._leave()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _reset(self) -> None:
            self._leave()
            # SO_LINGER 0 makes close() send RST: the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

        def finish(self) -> None:
            try:
                super().finish()
            except OSError:
                pass  # the socket was reset on purpose

    return Handler
