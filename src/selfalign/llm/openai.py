"""Backend for any OpenAI-compatible server (vLLM, llama.cpp server, TGI, Ollama) over HTTP.

It calls ``POST {base_url}/completions`` (plain text completion: the pipeline sends raw few-shot
prompts, never chat messages) from a bounded thread pool, one HTTP request per prompt. Transient
failures (429, 5xx, timeouts, dropped connections, malformed JSON) are retried with exponential
backoff and jitter, honouring ``Retry-After``; anything else, or the last failed try, raises an
``LLMError`` naming the URL, the status and the start of the body.

Trade-off: the standard library's ``urllib`` instead of an async client. One thread per in-flight
request is cheap at the concurrency a single server sustains (tens to a few hundred), and it keeps the backend
free of dependencies. Servers that ignore ``n`` (llama.cpp's) are topped up with extra requests.
The fingerprint is the URL, the served name and what ``GET {base_url}/models`` says about it, so
a server restarted on another model is another model to the cache. top_k and min_p are sent only
when a request sets them (the OpenAI API has neither; vLLM and llama.cpp's server accept both).

Several servers: ``model`` may list base URLs separated by commas (``http://a:8000/v1,
http://b:8000/v1``), replicas of one model, e.g. ``vllm serve`` on several machines. Each try goes
to the least loaded server that is up (``server_pool.py``), each server holding its own number of
requests in flight; a server whose try fails transiently is marked down for a backoff and the try
moves to another; when all are down the usual backoff applies, and the final error names every
URL with its last failure. One request is sent until one server answers it, so each request has
one result, in request order. A list's identity (``fingerprint``) is the served name and the
model its servers describe, checked to be the same on every server, not the URLs: adding,
removing or moving a replica keeps the cache. A single URL keeps the older URL-bound fingerprint,
so caches written before lists existed stay valid; a trailing comma (``http://b:8000/v1,``) makes
one URL a list of one, with the list's identity.

Chat prompts: the server's template is not fetched (the OpenAI API has no route for it) and
``/chat/completions`` is not used (its prompt would be invisible to the cache key and the raw
files). The user gives the template as a Jinja file (option ``chat_template``), and it is
rendered here like a GGUF's; without one the model has no chat template: the generation stages'
``auto`` format falls back to completion and an explicit ``chat`` fails, saying so.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from selfalign.llm.base import (LLM, BackendOptions, Completion, LLMError, Request, Result,
                                SamplingParams, speed_only)
from selfalign.llm.fingerprint import digest
from selfalign.llm.openai_wire import (error_reason, evaluated_prompt_tokens, parse_choices,
                                       parse_retry_after, snippet)
from selfalign.llm.server_pool import PoolDown, ServerPool

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# Fields of a /models entry that name the model; "created" is the time of the answer on vLLM.
MODEL_FIELDS = ("id", "root", "parent", "owned_by", "meta")
# Requests in flight when the server does not say how many it runs at once. vLLM batches up to
# its max_num_seqs (256 by default) and queues the rest, so a deep queue only helps it.
DEFAULT_CONCURRENCY = 64


@dataclass
class OpenAIOptions(BackendOptions):
    model_name: str = field(default="default", metadata={
        "help": "served model name sent as the request's 'model' (vLLM: the --served-model-name; "
                "llama.cpp's server accepts any)"})
    api_key: str | None = field(default=None, metadata=speed_only(
        "bearer token; default: the OPENAI_API_KEY environment variable, else none"))
    concurrency: int = field(default=0, metadata=speed_only(
        "requests in flight at once on each server; 0 = the server's own slot count where it "
        f"says (llama.cpp's /props total_slots), else {DEFAULT_CONCURRENCY} (vLLM queues and "
        "batches what it gets)"))
    timeout: float = field(default=300.0, metadata=speed_only(
        "seconds to wait for the server on one request before retrying it"))
    retries: int = field(default=5, metadata=speed_only(
        "retries after the first try for 429, 5xx, timeouts and connection errors (with several "
        "servers: failed tries in a row on every server before giving up)"))
    backoff: float = field(default=1.0, metadata=speed_only(
        "first retry delay in seconds (how long a failed server is left alone); doubles with "
        "each failure in a row, with random jitter"))
    max_backoff: float = field(default=60.0, metadata=speed_only(
        "longest wait between tries in seconds, Retry-After included"))
    # Not part of the cache key: it shapes prompts before they are sent, and prompts are keyed.
    chat_template: str | None = field(default=None, metadata={
        "help": "Jinja chat template file of the served model (e.g. the model's "
                "chat_template.jinja), rendered locally for chat prompts; none = no chat format",
        "output": False})

    def __post_init__(self) -> None:
        if self.concurrency < 0:
            raise LLMError("option 'concurrency' must be 0 (auto) or more")
        if self.retries < 0:
            raise LLMError("option 'retries' must be 0 or more")


class _Rejected(LLMError):
    """The server refused the request itself (4xx other than 408/409/425/429)."""


class _Transient(Exception):
    """A failed try worth repeating; carries what the final error message needs."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class OpenAILLM(LLM):
    """Text completions from OpenAI-compatible servers; ``model`` is a base URL (…/v1), or
    several separated by commas."""

    backend = "openai"
    Options = OpenAIOptions
    supports_seed = True   # passed through; whether it is honoured is the server's business
    batched = True         # requests run concurrently
    chunk_size = 256       # per server: deep enough to keep its batch full; a kill loses one chunk

    @classmethod
    def suggested_chunk_size(cls, options: dict[str, Any], model: str = "") -> int:
        """256 requests per server in the list, so each keeps a full queue."""
        return cls.chunk_size * max(1, len(server_urls(model)))

    def __init__(self, model: str, options: OpenAIOptions | None = None) -> None:
        self.urls = server_urls(model)
        # A comma, even a trailing one, asks for the URL-free identity of a list (fingerprint).
        self.pooled = "," in model
        super().__init__(",".join(self.urls) if self.pooled else model.rstrip("/"), options)
        bad = [url for url in self.urls if not url.startswith(("http://", "https://"))]
        if bad or not self.urls:
            raise LLMError(f"the openai backend needs server URLs such as "
                           f"http://127.0.0.1:8000/v1 (several separated by commas), got {model!r}")
        self._api_key = self.options.api_key or os.environ.get("OPENAI_API_KEY")
        self._fingerprint: str | None = None
        self._template: str | None = None
        self._pool: ServerPool | None = None
        self._served: Any = None            # what a list's servers serve (same_model)
        self._unchecked: set[str] = set()   # list servers not yet asked what they serve
        self._usage_lock = threading.Lock()

    @property
    def name(self) -> str:
        # One URL may serve several models; the served name is part of the identity.
        return f"{self.backend}:{self.model}#{self.options.model_name}"

    def fingerprint(self) -> str:
        """One URL: the URL + served name + the server's own description of that model, as
        before lists existed, so older caches stay valid. A list: the served name + the model
        every server describes, without URLs, so adding or removing a replica keeps the cache;
        servers that describe different models are refused (``same_model``). Asked once."""
        if self._fingerprint is None:
            if self.pooled:
                self._fingerprint = digest({"model_name": self.options.model_name,
                                            "served": self.same_model()}, "servers")
            else:
                self._fingerprint = digest({"url": self.model,
                                            "model_name": self.options.model_name,
                                            "served": self.served_model()}, "server")
        return self._fingerprint

    def same_model(self) -> Any:
        """What the servers of the list say they serve under our name, asked once each (again
        with backoff while none answers); an LLMError naming each URL and its answer when they
        differ, as their answers could not share a cache. A server that does not answer now
        (down, starting) is asked before its first request (``_check_joined``)."""
        served: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for attempt in range(self.options.retries + 1):
            for url in self.urls:
                try:
                    served.setdefault(url, self.served_model(url, retry=False))
                except _Transient as failure:
                    failed[url] = str(failure)
            if served:
                break
            if attempt < self.options.retries:
                time.sleep(self._delay(attempt, None))
        if not served:
            raise LLMError(f"no server of {self.name} answered GET /models: " +
                           "; ".join(f"{url}: {what}" for url, what in failed.items()))
        if len({json.dumps(s, sort_keys=True) for s in served.values()}) > 1:
            raise self._mismatch(served)
        self._unchecked = {url for url in self.urls if url not in served}
        self._served = next(iter(served.values()))
        return self._served

    def _check_joined(self, url: str) -> None:
        """The same-model check for a server that did not answer when the list was checked:
        an LLMError if it serves another model, a _Transient while it cannot say."""
        served = self.served_model(url, retry=False)
        if json.dumps(served, sort_keys=True) != json.dumps(self._served, sort_keys=True):
            raise self._mismatch({self.urls[0]: self._served, url: served})
        self._unchecked.discard(url)

    def _mismatch(self, served: dict[str, Any]) -> LLMError:
        listing = "; ".join(f"{url} serves {json.dumps(s, sort_keys=True)}"
                            for url, s in served.items())
        return LLMError(f"the servers of {self.name} do not serve the same model as "
                        f"{self.options.model_name!r}, so one cache cannot hold their answers; "
                        f"give URLs of one model only: {listing}")

    def served_model(self, url: str | None = None, retry: bool = True) -> Any:
        """Our model's entry in ``GET /models`` of ``url`` (default: the first server; every
        entry when the name is not listed, as llama.cpp's server answers any name); None when
        the server has no such route. ``retry=False``: one try, a _Transient when it fails."""
        target = (url or self.urls[0]) + "/models"
        try:
            body = self._send(target, None) if retry else self._send_once(target, None)
        except _Rejected:           # 404 and friends: this server has no /models
            return None
        entries = body.get("data") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return None
        described = [{k: e[k] for k in MODEL_FIELDS if k in e} for e in entries if isinstance(e, dict)]
        ours = [e for e in described if e.get("id") == self.options.model_name]
        return ours or sorted(described, key=lambda e: str(e.get("id")))

    def chat_template(self) -> str | None:
        path = self.options.chat_template
        if path and self._template is None:
            try:
                self._template = Path(path).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise LLMError(f"option chat_template: cannot read {path}: {exc}") from None
        return self._template if path else None

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        if not requests:
            return []
        self._servers().rearm()
        pool = ThreadPoolExecutor(self.concurrency(), thread_name_prefix="openai")
        try:
            return list(pool.map(self._complete, requests))
        finally:
            # On the first error, drop queued requests instead of sending them.
            pool.shutdown(wait=True, cancel_futures=True)

    def concurrency(self) -> int:
        """Requests in flight, all servers together: each server's option, else its slots."""
        return sum(server.slots for server in self._servers().servers)

    def _servers(self) -> ServerPool:
        """The servers with their slots (asked once); a list is checked to serve one model
        before anything is sent to it."""
        if self._pool is None:
            if self.pooled:
                self.fingerprint()
            slots = [self.options.concurrency or self.server_slots(url) or DEFAULT_CONCURRENCY
                     for url in self.urls]
            self._pool = ServerPool(self.urls, slots, self.options.retries + 1, self._delay)
        return self._pool

    def server_slots(self, url: str | None = None) -> int | None:
        """How many sequences a server decodes at once, where it says: llama.cpp's server
        answers ``GET /props`` (beside ``/v1``) with ``total_slots``; None elsewhere."""
        base = url or self.urls[0]
        root = base[:-len("/v1")] if base.endswith("/v1") else base
        try:
            body = self._send_once(root + "/props", None)
        except (_Rejected, _Transient):
            return None
        slots = body.get("total_slots") if isinstance(body, dict) else None
        return slots if isinstance(slots, int) and slots > 0 else None

    def _complete(self, request: Request) -> Result:
        """One prompt; tops up the choices when the server returned fewer than ``n``."""
        params = request.params
        completions = self._choices(request.prompt, params, params.n, params.seed)
        while len(completions) < params.n:
            k = len(completions)
            seed = None if params.seed is None else params.seed + k
            completions += self._choices(request.prompt, params, 1, seed)
        return Result(completions[:params.n])

    def _choices(self, prompt: str, params: SamplingParams, n: int,
                 seed: int | None) -> list[Completion]:
        body, url = self._post("/completions",
                               json.dumps(self._payload(prompt, params, n, seed)).encode())
        completions = parse_choices(body, url)
        with self._usage_lock:
            self.prompt_evaluated += evaluated_prompt_tokens(body)
        return completions

    def _payload(self, prompt: str, params: SamplingParams, n: int,
                 seed: int | None) -> dict[str, Any]:
        payload = {"model": self.options.model_name, "prompt": prompt, "n": n,
                   "temperature": params.temperature, "top_p": params.top_p,
                   "max_tokens": params.max_tokens}
        if params.stop:
            payload["stop"] = list(params.stop)
        if seed is not None:
            payload["seed"] = seed
        # Sent only when set: the OpenAI API rejects unknown fields, and "off" is its default.
        if params.top_k:
            payload["top_k"] = params.top_k
        if params.min_p:
            payload["min_p"] = params.min_p
        return payload

    def _post(self, path: str, data: bytes) -> tuple[dict[str, Any], str]:
        """POST to the least loaded server that is up, moving to another after a transient
        failure; the decoded JSON body and the URL that answered, or an LLMError."""
        pool = self._servers()
        # A backstop for a request that fails everywhere while other requests succeed (so no
        # server is ever given up on): as many tries as every server retrying it alone.
        tries = (self.options.retries + 1) * len(pool.servers)
        for _ in range(tries):
            try:
                server = pool.acquire()
            except PoolDown:
                raise self._give_up(pool, path, pool.give_up_after,
                                    "in a row on every server") from None
            try:
                if server.url in self._unchecked:
                    self._check_joined(server.url)
                body = self._send_once(server.url + path, data)
            except _Transient as failure:
                pool.release(server, str(failure), failure.retry_after)
                continue
            except BaseException:
                pool.release(server)    # it answered (a 4xx): up, whatever the request's fate
                raise
            pool.release(server)
            return body, server.url + path
        raise self._give_up(pool, path, tries, "for this request")

    def _give_up(self, pool: ServerPool, path: str, tries: int, how: str) -> LLMError:
        if len(pool.servers) == 1:
            last = pool.servers[0].last_failure
            return LLMError(f"{pool.servers[0].url}{path} failed after {tries} tries; last: {last}")
        return LLMError(f"the servers of {self.name} failed {tries} tries {how}: "
                        f"{pool.report(path)}")

    def _send(self, url: str, data: bytes | None) -> dict[str, Any]:
        """Send to one URL (GET when ``data`` is None) with retries; the decoded JSON body or
        an LLMError. For the per-server questions (/models); completions go through ``_post``."""
        tries = self.options.retries + 1
        for attempt in range(tries):
            try:
                return self._send_once(url, data)
            except _Transient as failure:
                if attempt == tries - 1:
                    raise LLMError(f"{url} failed after {tries} tries; "
                                   f"last: {failure}") from None
                time.sleep(self._delay(attempt, failure.retry_after))
        raise AssertionError("unreachable")

    def _send_once(self, url: str, data: bytes | None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(url, data=data, headers=headers,
                                         method="GET" if data is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise self._http_failure(url, error) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as error:
            # URLError is an OSError: refused connections land here too (a server starting up).
            raise _Transient(f"{type(error).__name__}: {error_reason(error)}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise _Transient(f"malformed JSON in a 200 response: {snippet(raw)}") from None

    def _http_failure(self, url: str, error: urllib.error.HTTPError) -> Exception:
        body = snippet(error.read())
        what = f"HTTP {error.code}: {body}"
        if error.code in RETRY_STATUSES:
            return _Transient(what, parse_retry_after(error.headers.get("Retry-After")))
        # 400/401/404…: the request itself is wrong, so repeating it cannot help.
        return _Rejected(f"{url} rejected the request: {what}")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = self.options.max_backoff
        if retry_after is not None:
            return min(retry_after, cap)
        # "Equal jitter": half fixed, half random, so retries of many threads spread out.
        base = min(cap, self.options.backoff * 2 ** attempt)
        return base / 2 + random.uniform(0, base / 2)


def server_urls(model: str) -> list[str]:
    """The base URLs in a model string: one, or several separated by commas, each once."""
    urls = (part.strip().rstrip("/") for part in model.split(","))
    return list(dict.fromkeys(url for url in urls if url))
