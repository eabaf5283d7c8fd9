"""A small load generator: N client threads on keep-alive HTTP/1.1 connections (http.client),
bounded in request count and in time, each request prepared before the clock starts.

Only ever talks to 127.0.0.1.
"""

import http.client
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

HOST = "127.0.0.1"


@dataclass
class Prepared:
    """One request, ready to send."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict = field(default_factory=dict)


@dataclass
class Result:
    """What one run measured."""

    label: str
    concurrency: int
    ok: int
    errors: int
    seconds: float
    latencies: list
    statuses: Counter
    bodies: list  # the first few response bodies, if asked for

    @property
    def rate(self) -> float:
        """Successful requests per second over the run."""
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Latency percentile in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
        return ordered[rank] * 1000

    def summary(self) -> dict:
        return {
            "label": self.label,
            "concurrency": self.concurrency,
            "ok": self.ok,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate, 2),
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 1) if self.latencies else None,
            "statuses": dict(self.statuses),
        }


def run(
    port: int,
    requests: list[Prepared],
    concurrency: int,
    *,
    max_seconds: float,
    label: str = "",
    expect=(200, 201),
    keep_bodies: int = 0,
    timeout: float = 300,
    stop=None,
    at_least: int = 0,
) -> Result:
    """Send ``requests`` (each once, in order, shared by the threads) with ``concurrency``
    threads until all are sent or ``max_seconds`` have passed. A request that raises, or
    answers other than ``expect``, is an error. ``stop`` (a threading.Event), once set, ends
    the run early, once ``at_least`` requests were sent."""
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "errors": 0}
    latencies, statuses, bodies = [], Counter(), []
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def take():
        with lock:
            stopped = stop is not None and stop.is_set() and state["next"] >= at_least
            if state["next"] >= len(requests) or time.perf_counter() > deadline[0] or stopped:
                return None
            state["next"] += 1
            return requests[state["next"] - 1]

    def client():
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        start.wait()
        while True:
            prepared = take()
            if prepared is None:
                break
            began = time.perf_counter()
            try:
                conn.request(prepared.method, prepared.path, body=prepared.body, headers=prepared.headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
                status, data = type(exc).__name__, b""
            took = time.perf_counter() - began
            with lock:
                statuses[status] += 1
                if status in expect:
                    state["ok"] += 1
                    latencies.append(took)
                    if len(bodies) < keep_bodies:
                        bodies.append(data)
                else:
                    state["errors"] += 1
        conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + max_seconds
    start.wait()
    for thread in threads:
        thread.join(timeout=max_seconds + timeout + 10)
    seconds = time.perf_counter() - began
    return Result(label, concurrency, state["ok"], state["errors"], seconds, latencies, statuses, bodies)
