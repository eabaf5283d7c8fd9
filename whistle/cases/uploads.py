"""Request parsing with limits enforced while reading: streamed uploads and strict JSON.

Two kinds of spool, chosen by the view before the body is parsed (``request.seal_files``
gives the request an explicit ``Uploads``; without it, files arrive as ciphertext):
- ``CiphertextSpool`` (JavaScript path): the browser already encrypted the file; we count
  and spool it.
- ``SealingSpool`` (no-JavaScript path): each chunk is encrypted with secretstream the
  moment it arrives, so plaintext never reaches a temporary file; a file up to the stripping
  size is first held in memory and stripped of its metadata (whistle.scrub.gate).
Every file part gets a limited spool, whatever its file name says.
"""

import json
import re
import tempfile
import unicodedata
from urllib.parse import quote

from dataclasses import dataclass, field

from flask import Request, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream, get_input_stream

from crypto.stream import StreamEncryptor, attachment_key, ciphertext_size
from whistle.errors import InvalidSubmission, TooLarge
from whistle.models import new_id
from whistle.scrub.gate import ScrubGate
from whistle.services import services

SPOOL_IN_MEMORY = 1024 * 1024
# How much of a multipart body the parser reads at a time. werkzeug reads 64 KiB; 256 KiB
# carried a 200 MiB no-JS upload 5 to 26 % faster (bench/findings.md) and stays well under
# MAX_FORM_MEMORY_SIZE, which werkzeug also applies to its read buffer.
MULTIPART_READ = 256 * 1024
# \Z, not $: "$" also matches before a trailing newline, so "<32 hex>\n" would pass.
# Anchored at the end, the pattern is safe with .match() as well as .fullmatch().
ATTACHMENT_ID = re.compile(r"[0-9a-f]{32}\Z")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}\Z")
# Control characters (CR/LF split headers), format characters (bidi overrides disguise
# an extension), line/paragraph separators and lone surrogates never belong in a file name.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
NAME_CHARS = 200


def is_attachment_id(value) -> bool:
    """True for a string of exactly 32 lowercase hex digits."""
    return isinstance(value, str) and ATTACHMENT_ID.match(value) is not None


def clean_filename(name, fallback: str = "attachment") -> str:
    """A file name safe to show and to put in a header: unsafe characters dropped, the
    last 200 characters kept (the extension survives), ``fallback`` if nothing is left."""
    text = name if isinstance(name, str) else ""
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _UNSAFE_CATEGORIES).strip()
    return text[-NAME_CHARS:] or fallback


def form_text(form, name: str) -> str:
    """Form field ``name``, trimmed, with "\n" for every line break. Browsers send a
    textarea's line break as CRLF while its maxlength counts it as one character: counted
    raw, text the browser accepted would be refused."""
    return (form.get(name) or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def attachment_disposition(name) -> dict:
    """Content-Disposition parameters that download ``name`` (cleaned), written the way
    werkzeug's send_file writes them (RFC 6266): a name outside ASCII goes in ``filename*``
    as percent-encoded UTF-8, beside an ASCII approximation in ``filename``. A raw
    non-Latin-1 header value is refused by gunicorn as a 500. Use as
    ``headers.set("Content-Disposition", "attachment", **attachment_disposition(name))``."""
    text = clean_filename(name)
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        # safe = RFC 5987 attr-char, as in werkzeug.utils.send_file
        return {"filename": simple.strip() or "attachment", "filename*": "UTF-8''" + quote(text, safe="!#$&+-.^_`|~")}
    return {"filename": text}


def clean_content_type(value) -> str:
    """A plain ``type/subtype`` from a part header, else application/octet-stream."""
    text = (value or "").split(";")[0].strip() if isinstance(value, str) else ""
    return text if _CONTENT_TYPE.match(text) else "application/octet-stream"


def _reject_constant(name: str):
    raise ValueError(f"not JSON: {name}")


def parse_json(data):
    """Strict JSON (no NaN/Infinity); ValueError for anything else, including nesting too
    deep for the parser (a RecursionError would otherwise surface as a 500)."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


class _StrictJSON:
    """The json_module request.get_json uses: parse_json, so every view gets the same rules."""

    loads = staticmethod(parse_json)


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

    def __init__(
        self, limit_plain: int, content_key: bytes, filename: str, content_type: str, scrub_max: int = 0
    ) -> None:
        super().__init__(ciphertext_size(limit_plain))
        self.id = new_id()
        self.filename = clean_filename(filename)
        self.content_type = clean_content_type(content_type)
        self.limit_plain = limit_plain
        self._received = 0
        self._enc = StreamEncryptor(attachment_key(content_key, self.id), self._store)
        self.gate = ScrubGate(self.filename, self.content_type, scrub_max, self._enc.write)

    def write(self, data: bytes) -> int:
        """Strip (up to the stripping size), encrypt and store; refuse once the plaintext
        exceeds the per-file limit."""
        self._received += len(data)
        if self._received > self.limit_plain:
            raise TooLarge()
        self.gate.write(bytes(data))
        return len(data)

    def seek(self, *args):
        """Werkzeug rewinds the spool when the part has ended: strip and encrypt what the
        gate holds now, so that only one file's plaintext is held at a time."""
        self.gate.close()
        return self.file.seek(*args)

    def finish(self) -> int:
        """Pad and write the FINAL chunk; returns the plaintext size (as stripped)."""
        self.file.seek(0, 2)  # werkzeug rewound the spool after parsing; append at the end
        self.gate.close()
        return self._enc.finish()


class EmptyFilePart:
    """What a no-JS form's empty file input sends: a part with an empty file name and no
    content. Anything written to it is refused, so such a part cannot smuggle data past
    the per-file limit or the attachment count."""

    def write(self, data: bytes) -> int:
        """Accept nothing but empty writes."""
        if data:
            raise InvalidSubmission(detail="a file part without a file name must be empty")
        return 0

    def seek(self, *_args) -> int:
        """Werkzeug rewinds the stream after parsing."""
        return 0

    def read(self, *_args) -> bytes:
        """There is nothing to read."""
        return b""

    def close(self) -> None:
        """Nothing to drop."""


def multipart_form_parser(read_size: int) -> type[FormDataParser]:
    """werkzeug's form parser with its multipart reader reading ``read_size`` bytes at a
    time (FormDataParser builds its MultiPartParser with the 64 KiB default and no way to
    pass another). Its buffer counts against max_form_memory_size, so keep it below. A
    part without a name makes the whole body malformed."""

    class FormParser(FormDataParser):
        def _parse_multipart(self, stream, mimetype, content_length, options):
            boundary = options.get("boundary", "").encode("ascii")
            if not boundary:
                raise ValueError("Missing boundary")
            parser = MultiPartParser(
                stream_factory=self.stream_factory,
                max_form_memory_size=self.max_form_memory_size,
                max_form_parts=self.max_form_parts,
                cls=self.cls,
                buffer_size=read_size,
            )
            form, files = parser.parse(stream, boundary, content_length)
            if None in form or None in files:
                # A part without a name (RFC 7578 requires one) would reach the views and
                # Flask-WTF as a None key; the body is malformed, so it parses as no form
                # at all, like any other malformed body (werkzeug's parser is silent).
                raise ValueError("multipart part without a name")
            return stream, form, files

    return FormParser


try:  # the production server's errors for a body it cannot parse
    from gunicorn.http.errors import ParseException as _ServerParseError
except ImportError:  # pragma: no cover - gunicorn is not installed where it cannot run
    _ServerParseError = ()  # type: ignore[misc]  # an empty tuple of classes: no server error matches


class _ServerBody:
    """A server's wsgi.input, whose errors in parsing the body are the body's: gunicorn
    raises its own (a chunk size that is not hex, a malformed trailer) from read(), and
    werkzeug, which knows only OSError, let them through as a 500. A 400 instead."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except _ServerParseError as exc:
            raise BadRequest() from exc

    def readline(self, size: int = -1) -> bytes:
        try:
            return self._stream.readline(size)
        except _ServerParseError as exc:
            raise BadRequest() from exc


class _AtMost(LimitedStream):
    """A body of no stated length (chunked) that may be at most ``limit`` bytes: a byte
    more is a 413. werkzeug's own maximum stops reading at the limit and hands on what it
    read as the whole body, so an oversized form lost its end unseen and the rest was taken."""

    def __init__(self, stream, limit: int) -> None:
        super().__init__(stream, limit + 1, is_max=True)  # reads one byte past the limit, to see it

    def readinto(self, b) -> int | None:
        size = super().readinto(b)
        if self.is_exhausted:  # the byte past the limit came
            raise RequestEntityTooLarge()
        return size


@dataclass
class Uploads:
    """The files of one request: how they are spooled, and the spools they went to.

    ``content_key`` None: each file arrives encrypted by the browser (the JavaScript path);
    otherwise each is encrypted under it while it streams in (the no-JavaScript path). The
    view asks for sealing before it reads the form, then hands this object to sealing."""

    content_key: bytes | None = None
    spools: list = field(default_factory=list)

    def spool_for(self, max_files: int, max_bytes: int, filename, content_type, scrub_max_bytes: int = 0):
        """The spool for the next file part (an empty part of a no-JS form has none)."""
        if self.content_key is not None and not filename:
            return EmptyFilePart()  # an empty <input type=file> in a no-JS form
        if len(self.spools) >= max_files:
            raise TooLarge()
        if self.content_key is not None:
            spool = SealingSpool(max_bytes, self.content_key, filename, content_type, scrub_max_bytes)
        else:
            spool = CiphertextSpool(ciphertext_size(max_bytes))
        self.spools.append(spool)
        return spool

    def close(self) -> None:
        """Discard every spool (at the end of the request)."""
        spools, self.spools = self.spools, []
        for spool in spools:
            spool.close()


class WhistleRequest(Request):
    """Request whose multipart file parts go to the spool the view asked for, whose
    multipart bodies are read MULTIPART_READ bytes at a time, and whose JSON is parsed
    strictly."""

    json_module = _StrictJSON
    form_data_parser_class = multipart_form_parser(MULTIPART_READ)

    @cached_property
    def uploads(self) -> Uploads:
        """This request's files: ciphertext from the browser unless ``seal_files`` was called."""
        return Uploads()

    def seal_files(self, content_key: bytes) -> Uploads:
        """Encrypt each file part under ``content_key`` as it streams in. Call it before the
        form is read; what it returns collects the spools for sealing."""
        if "form" in self.__dict__ or "files" in self.__dict__:
            raise RuntimeError("seal_files must come before the form is read")
        self.uploads = Uploads(content_key)
        return self.uploads

    @cached_property
    def stream(self):
        """The body, which must be as long as its Content-Length says. A server that sets
        wsgi.input_terminated (gunicorn) ends the stream where the body ends, and also where
        a client that went away half-way stopped sending (nginx streams bodies on, unbuffered):
        werkzeug then reads the part that came as if it were the whole, and a report, a
        message or survey answers cut short would be stored. A body cut short is a 400; a
        chunked one (no stated length) longer than the request's limit, a 413."""
        if self.shallow:
            raise RuntimeError("reading the body of a shallow request")
        if "wsgi.input_terminated" not in self.environ:
            return get_input_stream(self.environ, max_content_length=self.max_content_length)
        body = _ServerBody(self.environ["wsgi.input"])
        length, limit = self.content_length, self.max_content_length
        if length is not None:
            if limit is not None and length > limit:
                raise RequestEntityTooLarge()
            return LimitedStream(body, length)  # ClientDisconnected if it ends early
        return body if limit is None else _AtMost(body, limit)  # chunked

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        cfg = services().config
        return self.uploads.spool_for(
            cfg.max_attachments, cfg.max_attachment_bytes, filename, content_type, cfg.scrub_max_bytes
        )


def close_spools(_exc=None) -> None:
    """Teardown: discard every spool of the request."""
    request.uploads.close()
