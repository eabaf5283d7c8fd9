"""Streaming uploads with limits enforced while reading.

Two kinds of spool, chosen by the view before the body is parsed:
- ``CiphertextSpool`` (JavaScript path): the browser already encrypted the file; we count
  and spool it.
- ``SealingSpool`` (no-JavaScript path): each chunk is encrypted with secretstream the
  moment it arrives, so plaintext never reaches a temporary file.
"""
import re
import tempfile

from flask import Request, current_app, g

from crypto.stream import StreamEncryptor, attachment_key, ciphertext_size
from whistle.errors import TooLarge
from whistle.models import new_id

SPOOL_IN_MEMORY = 1024 * 1024
ATTACHMENT_ID = re.compile(r"^[0-9a-f]{32}$")


class _Spool:
    """A temporary file (in memory up to 1 MiB) that counts what is written to it."""

    def __init__(self, limit: int) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self.limit = limit
        self.stored = 0

    def _store(self, data: bytes) -> None:
        self.stored += len(data)
        if self.stored > self.limit:
            raise TooLarge()
        self.file.write(data)

    def seek(self, *args):
        """Werkzeug rewinds the stream after parsing."""
        return self.file.seek(*args)

    def read(self, *args):
        """Read back stored bytes."""
        return self.file.read(*args)

    def close(self) -> None:
        """Drop the spooled bytes."""
        self.file.close()


class CiphertextSpool(_Spool):
    """Spool for an already-encrypted attachment stream."""

    def write(self, data: bytes) -> int:
        """Store ciphertext, refusing it once it exceeds the largest legal stream."""
        self._store(data)
        return len(data)


class SealingSpool(_Spool):
    """Spool that encrypts plaintext as it streams in, under the request's content key."""

    def __init__(self, limit_plain: int, content_key: bytes, filename: str, content_type: str) -> None:
        super().__init__(ciphertext_size(limit_plain))
        self.id = new_id()
        self.filename = filename
        self.content_type = content_type
        self.limit_plain = limit_plain
        self._enc = StreamEncryptor(attachment_key(content_key, self.id), self._store)

    def write(self, data: bytes) -> int:
        """Encrypt and store; refuse once the plaintext exceeds the per-file limit."""
        if self._enc.size + len(data) > self.limit_plain:
            raise TooLarge()
        return self._enc.write(bytes(data))

    def finish(self) -> int:
        """Pad and write the FINAL chunk; returns the plaintext size."""
        self.file.seek(0, 2)  # werkzeug rewound the spool after parsing; append at the end
        return self._enc.finish()


class WhistleRequest(Request):
    """Request whose multipart file parts go to the spool the view asked for."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        cfg = current_app.config["WHISTLE"]
        spools = g.setdefault("spools", [])
        if filename in (None, ""):  # an empty <input type=file> in a no-JS form
            return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        if len(spools) >= cfg.max_attachments:
            raise TooLarge()
        mode = g.get("upload_mode", "ciphertext")
        if mode == "seal":
            spool = SealingSpool(cfg.max_attachment_bytes, g.upload_content_key,
                                 filename[-200:], (content_type or "application/octet-stream")[:100])
        else:
            spool = CiphertextSpool(ciphertext_size(cfg.max_attachment_bytes))
        spools.append(spool)
        return spool


def close_spools(_exc=None) -> None:
    """Teardown: discard every spool of the request."""
    for spool in g.pop("spools", []):
        spool.close()
