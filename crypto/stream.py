"""Attachment streams (FORMAT.md §4): secretstream XChaCha20-Poly1305 in 64 KiB chunks."""

from collections.abc import Callable, Iterable, Iterator

import nacl.bindings as sodium

from crypto.errors import CryptoError
from crypto.keys import derive

CHUNK = 65536
HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES  # 24
ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES  # 17
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def padme(length: int) -> int:
    """Padmé padded length: at most 12 % overhead, leaks O(log log L) bits."""
    if length < 2:
        return length
    e = length.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (length + mask) & ~mask


def ciphertext_size(size: int) -> int:
    """Exact stored size of the stream for a file of ``size`` bytes."""
    padded = padme(size)
    chunks = max(1, -(-padded // CHUNK))  # only an empty file has an empty chunk
    return HEADER_BYTES + padded + chunks * ABYTES


def attachment_key(content_key: bytes, attachment_id: str) -> bytes:
    """The per-attachment stream key."""
    return derive(content_key, "whistle/v1/attachment/" + attachment_id)


class StreamEncryptor:
    """Encrypts a file incrementally; memory use is one chunk whatever the file size.

    Feed plaintext with ``write``; ``finish`` adds the Padmé padding and the FINAL chunk.
    Ciphertext comes out through the ``sink`` callable, in order.
    """

    def __init__(self, key: bytes, sink: Callable[[bytes], object]) -> None:
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        self._sink = sink
        self._buffer = bytearray()
        self.size = 0
        self._finished = False
        sink(header)

    def _push(self, chunk: bytes, tag: int) -> None:
        self._sink(sodium.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, None, tag))

    def write(self, data: bytes) -> int:
        """Add plaintext; full chunks are encrypted and emitted at once."""
        if self._finished:
            raise ValueError("stream already finished")
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep at least one byte back for the FINAL chunk
            self._push(bytes(self._buffer[:CHUNK]), _TAG_MESSAGE)
            del self._buffer[:CHUNK]
        return len(data)

    def finish(self) -> int:
        """Pad to padme(size), emit the remaining chunks and the FINAL one; returns size."""
        if self._finished:
            return self.size
        padding = padme(self.size) - self.size
        remaining = len(self._buffer) + padding
        # Emit zero padding in chunk-sized pieces without building it all in memory.
        while remaining > CHUNK:
            take = CHUNK - len(self._buffer)
            self._buffer += bytes(min(take, padding))
            padding -= min(take, padding)
            self._push(bytes(self._buffer[:CHUNK]), _TAG_MESSAGE)
            del self._buffer[:CHUNK]
            remaining = len(self._buffer) + padding
        self._buffer += bytes(padding)
        self._push(bytes(self._buffer), _TAG_FINAL)
        self._buffer = bytearray()
        self._finished = True
        return self.size


def encrypt_bytes(key: bytes, data: bytes) -> bytes:
    """Encrypt a whole attachment held in memory (tests and small files)."""
    out: list[bytes] = []
    enc = StreamEncryptor(key, out.append)
    enc.write(data)
    enc.finish()
    return b"".join(out)


def _rechunk(pieces: Iterable[bytes], first: int, size: int) -> Iterator[bytes]:
    """Yield the header (``first`` bytes) then ciphertext chunks of ``size`` bytes."""
    buf = bytearray()
    want = first
    for piece in pieces:
        buf += piece
        while len(buf) >= want:
            yield bytes(buf[:want])
            del buf[:want]
            want = size
    yield bytes(buf)  # may be short or empty: the last chunk


def decrypt_stream(key: bytes, pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Decrypt a stream given as byte pieces of any length; yield the first ``size`` bytes.

    Raises CryptoError on truncation, trailing data or any failed chunk.
    """
    chunks = _rechunk(pieces, HEADER_BYTES, CHUNK + ABYTES)
    header = next(chunks)
    if len(header) != HEADER_BYTES:
        raise CryptoError()
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
    except Exception as exc:  # noqa: BLE001 - any libsodium failure is the same to callers
        raise CryptoError() from exc
    left = size
    final = False
    for chunk in chunks:
        if final:
            if chunk:
                raise CryptoError()  # trailing data after FINAL
            continue
        if len(chunk) < ABYTES:
            raise CryptoError()
        try:
            plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, chunk, None)
        except Exception as exc:  # noqa: BLE001
            raise CryptoError() from exc
        if tag == _TAG_FINAL:
            final = True
        elif tag != _TAG_MESSAGE or len(chunk) != CHUNK + ABYTES:
            raise CryptoError()
        if left > 0:
            out = plain[:left]
            left -= len(out)
            yield out
    if not final or left > 0:
        raise CryptoError()  # truncated
