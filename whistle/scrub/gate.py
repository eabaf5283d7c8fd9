"""Stripping on the no-JavaScript path, between the multipart parser and the encryptor.

A file's plaintext is held in this request's memory, up to ``max_bytes``; when the part
ends it is stripped and handed on to be encrypted. A file that grows past ``max_bytes``
is handed on unchanged as it streams (the bytes held so far first), so a large upload
never costs more than ``max_bytes`` of memory, and is reported as sealed unchanged.
Plaintext never goes anywhere but ``write``, which encrypts it.
"""

from collections.abc import Callable

from whistle.scrub import TOO_LARGE, ScrubResult, scrub

FLUSH_CHUNK = 1024 * 1024


class ScrubGate:
    """Holds, strips and passes on one file's plaintext."""

    def __init__(self, name: str, content_type: str, max_bytes: int, write: Callable[[bytes], object]) -> None:
        self.name = name
        self.content_type = content_type
        self.max_bytes = max_bytes
        self._write = write
        self._held: bytearray | None = bytearray()
        self.result: ScrubResult | None = None

    def write(self, data: bytes) -> None:
        """Hold ``data``, or pass it on once the file is over the stripping size."""
        if self._held is None:
            self._write(data)
        elif len(self._held) + len(data) <= self.max_bytes:
            self._held += data
        else:
            held, self._held = self._held, None
            self.result = ScrubResult(b"", TOO_LARGE)
            for start in range(0, len(held), FLUSH_CHUNK):  # piece by piece: no second copy of it all
                self._write(bytes(held[start : start + FLUSH_CHUNK]))
            del held
            self._write(data)

    def close(self) -> ScrubResult:
        """The part ended: strip what was held and pass it on (once); what happened."""
        if self._held is not None:
            held, self._held = bytes(self._held), None  # one copy at a time: the buffer goes first
            result = scrub(self.name, self.content_type, held)
            del held
            self._write(result.data)
            self.result = ScrubResult(b"", result.status, result.found, result.removed)
        return self.result


def outcomes(spools) -> list[tuple[str, ScrubResult]]:
    """(file name, what stripping did) for each no-JS spool of a request, for its receipt."""
    return [(spool.filename, spool.gate.close()) for spool in spools]
