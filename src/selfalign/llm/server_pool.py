"""Which of the openai backend's servers takes the next try: the least loaded one that is up.

Each server has its own number of slots (requests it is given at once), the requests it has in
flight and a health record. A failed try marks its server down for a backoff that doubles with
each failure in a row (or the server's ``Retry-After``); a down server gets no new tries, and
once its time is up it gets one try at a time until one succeeds (a circuit breaker's half-open
state), so a dead server costs one failed try per backoff, not one per queued request. While
every server is down, ``acquire`` waits for the first to come back; once every server has failed
``give_up_after`` tries in a row, it raises ``PoolDown`` and the backend reports every URL's last
failure. Nothing here speaks HTTP: the backend sends, then tells the pool how it went.

Trade-off: least in flight relative to each server's slots (ties taken in turn), not round robin
or measured latency: a faster server frees its slots sooner and so takes more of the work, with
no speed model to keep up to date. One server is a pool of one: the same code, whose waits are
the plain retry backoff of a single server.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence


class PoolDown(Exception):
    """Every server failed ``give_up_after`` tries in a row."""


@dataclass
class Server:
    url: str
    slots: int
    in_flight: int = 0
    failures: int = 0           # failed tries in a row; a success resets it
    down_until: float = 0.0     # time.monotonic() before which it gets no new try
    last_failure: str = ""

    def free_slots(self, now: float) -> int:
        if now < self.down_until:
            return 0
        # Half-open: after a failure, one probe at a time until a try succeeds.
        return (1 if self.failures else self.slots) - self.in_flight


class ServerPool:
    def __init__(self, urls: Sequence[str], slots: Sequence[int], give_up_after: int,
                 backoff: Callable[[int, float | None], float]) -> None:
        """``backoff(failures_so_far, retry_after)`` is how long a server that just failed stays
        down (the backend's ``_delay``)."""
        self.servers = [Server(url, max(1, n)) for url, n in zip(urls, slots, strict=True)]
        self.give_up_after = give_up_after
        self._backoff = backoff
        self._changed = threading.Condition()
        self._turn = 0

    def acquire(self) -> Server:
        """A slot on the least loaded server that is up; waits while none is free."""
        with self._changed:
            while True:
                if all(s.failures >= self.give_up_after for s in self.servers):
                    raise PoolDown()
                now = time.monotonic()
                free = [i for i, s in enumerate(self.servers) if s.free_slots(now) > 0]
                if free:
                    n = len(self.servers)
                    best = min(free, key=lambda i: (
                        self.servers[i].in_flight / self.servers[i].slots, (i - self._turn) % n))
                    self._turn = (best + 1) % n
                    server = self.servers[best]
                    server.in_flight += 1
                    return server
                back = [s.down_until - now for s in self.servers if s.down_until > now]
                # None: every server is up and full, so wait for a release.
                self._changed.wait(min(back) if back else None)

    def release(self, server: Server, failure: str | None = None,
                retry_after: float | None = None) -> None:
        """The try on ``server`` is over: it succeeded (or was refused for its own sake) when
        ``failure`` is None, else it failed transiently and the server goes down for a while."""
        with self._changed:
            server.in_flight -= 1
            if failure is None:
                server.failures, server.down_until = 0, 0.0
            else:
                server.last_failure = failure
                now = time.monotonic()
                # Tries already in flight when it went down fail too; they are one failure, not
                # many, so the backoff does not jump to its cap on one outage.
                if now >= server.down_until:
                    server.down_until = now + self._backoff(server.failures, retry_after)
                    server.failures += 1
            self._changed.notify_all()

    def rearm(self) -> None:
        """Give each server that was given up on one more try (a new ``generate`` call), after
        the backoff it is serving now."""
        with self._changed:
            for server in self.servers:
                server.failures = min(server.failures, self.give_up_after - 1)

    def report(self, path: str) -> str:
        """Every server's state for an error message."""
        return "; ".join(f"{s.url}{path}: {s.failures} failed tries in a row, last: "
                         f"{s.last_failure or 'none'}" for s in self.servers)
