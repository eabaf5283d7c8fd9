"""Receipt codes stretched on the server (the no-JavaScript report and follow-up), a few at
a time per process.

Why a bound: one argon2id derivation keeps one core and `receipt_memlimit` of memory busy
for its whole run and nothing in it waits. A worker with more threads than cores' worth of
derivations in flight only makes them share the cores and the memory bandwidth: each one
takes longer, all of them finish later, and the machine stretches fewer codes per second
than with one derivation per core (docs/benchmarks.md). The other work of a request
(parsing, sealing, the database) runs outside the slot, beside the derivations.

The bound is per process; deploy/gunicorn.conf.py gives each worker its share of the cores
(WHISTLE_RECEIPT_DERIVATIONS = cores ÷ workers, at least 1) unless the setting is given.
"""

import threading

from crypto.receipt import ReceiptCode, ReporterKeys, derive_reporter_keys


class DerivationSlots:
    """At most ``count`` receipt derivations at once in this process; the rest wait until a
    slot is free (threading.Semaphore: no strict first-come order, but every waiter gets one
    as the running derivations finish)."""

    def __init__(self, count: int):
        if count < 1:
            raise ValueError("at least one derivation slot")
        self.count = count
        self._slots = threading.BoundedSemaphore(count)
        self._lock = threading.Lock()
        self.running = 0
        self.most_running = 0  # the highest number ever seen at once (tests, diagnostics)

    def derive(self, code: ReceiptCode, salt: bytes, opslimit: int, memlimit: int) -> ReporterKeys:
        """derive_reporter_keys in a slot."""
        with self._slots:
            with self._lock:
                self.running += 1
                self.most_running = max(self.most_running, self.running)
            try:
                return derive_reporter_keys(code, salt, opslimit, memlimit)
            finally:
                with self._lock:
                    self.running -= 1
