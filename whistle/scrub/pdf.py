"""Stripping a PDF: the document information dictionary, every XMP metadata stream, the
document ids, application private data and the authors of comments (annotations).

The file is rewritten whole by qpdf (through pikepdf), which also drops earlier revisions
kept by incremental saves, with whatever metadata they had. Pages, text and images are
copied as they are.

qpdf expands an object stream whole to read the objects in it, and a few kilobytes deflated
twice expand to gigabytes: so it runs in a child process with a memory, CPU and time bound
(and no core file: it would put the plaintext on disk). The plaintext goes to it and back
through pipes only; a child that dies or overruns leaves the file Unreadable (sealed unchanged).
"""

import io
import json
import re
import resource
import subprocess
import sys
import zlib
from pathlib import Path

import pikepdf

from whistle.scrub import findings
from whistle.scrub.result import Report, Unreadable

_INFO_KINDS = {
    "/Author": "author",
    "/Creator": "software",
    "/Producer": "software",
    "/Title": "title",
    "/CreationDate": "date",
    "/ModDate": "date",
    "/Company": "company",
    "/Manager": "company",
}
_PDF_DATE = re.compile(r"D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?")
_MAX_XMP = 1024 * 1024
CHILD_MEMORY = 384 * 1024 * 1024  # address space of the child, besides 8 times the file's size
CHILD_SECONDS = 20
# The child imports whistle.scrub alone: not the application package (a second's start).
_CHILD = (
    "import sys, types; package = types.ModuleType('whistle'); package.__path__ = [sys.argv[1]]; "
    "sys.modules['whistle'] = package; from whistle.scrub import pdf; pdf._child()"
)


def _date(text: str) -> str:
    match = _PDF_DATE.match(text)
    if not match:
        return text
    year, month, day, hour, minute = (part or "" for part in match.groups())
    day_text = "-".join(part for part in (year, month, day) if part)
    return f"{day_text} {hour}:{minute}" if hour and minute else day_text


def _read_info(info, report: Report) -> None:
    for key, kind in _INFO_KINDS.items():
        if key in info:
            text = str(info[key])
            report.find(kind, _date(text) if kind == "date" else text)


def _xmp_head(stream) -> bytes:
    """The first _MAX_XMP bytes of an XMP stream, stored plain or deflated once (else b""):
    never more, since a few kilobytes deflated twice can expand to gigabytes."""
    raw = stream.read_raw_bytes()
    method = stream.get("/Filter")
    if method is None:
        return raw[:_MAX_XMP]
    if method == pikepdf.Name.FlateDecode:
        try:
            return zlib.decompressobj().decompress(raw, _MAX_XMP)
        except zlib.error:
            return b""
    return b""


def _strip_object(obj, report: Report) -> None:
    """Metadata kept on one object: an XMP stream, private application data, a comment's author."""
    if "/Metadata" in obj:
        try:
            findings.read_xmp(_xmp_head(obj.Metadata), report)
        except (pikepdf.PdfError, AttributeError, TypeError):
            pass
        del obj["/Metadata"]
        report.remove("xmp")
    if "/PieceInfo" in obj:
        del obj["/PieceInfo"]
        report.remove("other")
    if obj.get("/Type") == "/Annot" or ("/Subtype" in obj and "/Rect" in obj):
        if obj.get("/Subtype") != "/Widget" and "/T" in obj:  # a form field's /T is its name
            report.find("author", str(obj.T))
            obj.T = pikepdf.String("")
            report.remove("comment_authors")
        if "/M" in obj or "/CreationDate" in obj:
            for key in ("/M", "/CreationDate"):
                if key in obj:
                    del obj[key]
            report.remove("timestamps")


def pdf(data: bytes, report: Report) -> bytes:
    """The PDF rewritten without its metadata, by a bounded child process (``_child``);
    Unreadable if qpdf cannot open it (damaged, or locked with a password) or overruns."""
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", _CHILD, str(Path(__file__).parents[1])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Bounded before it is given anything to read.
        resource.prlimit(child.pid, resource.RLIMIT_CORE, (0, 0))
        resource.prlimit(child.pid, resource.RLIMIT_CPU, (CHILD_SECONDS, CHILD_SECONDS))
        memory = CHILD_MEMORY + 8 * len(data)
        resource.prlimit(child.pid, resource.RLIMIT_AS, (memory, memory))
        out, _ = child.communicate(data, timeout=CHILD_SECONDS * 2)
    except (subprocess.TimeoutExpired, ProcessLookupError, OSError) as exc:
        child.kill()
        child.wait()
        raise Unreadable("PDF") from exc
    if child.returncode != 0:
        raise Unreadable("PDF")
    line, _, cleaned = out.partition(b"\n")
    told = json.loads(line)
    for kind, value in told["found"]:
        report.find(kind, value)
    for kind in told["removed"]:
        report.remove(kind)
    return cleaned


def _child() -> None:
    """In the child: the file from stdin; what was found and removed (a JSON line), then the
    stripped file, on stdout; exit status 1 if it cannot be stripped."""
    report = Report()
    try:
        cleaned = strip(sys.stdin.buffer.read(), report)
    except (Unreadable, MemoryError):
        sys.exit(1)
    sys.stdout.buffer.write(json.dumps({"found": report.found, "removed": report.removed}).encode() + b"\n")
    sys.stdout.buffer.write(cleaned)
    sys.stdout.buffer.flush()


def strip(data: bytes, report: Report) -> bytes:
    """The PDF rewritten without its metadata, in this process; Unreadable if qpdf cannot
    open it (damaged, or locked with a password)."""
    try:
        doc = pikepdf.open(io.BytesIO(data))
    except (pikepdf.PdfError, pikepdf.PasswordError, ValueError, OverflowError) as exc:
        raise Unreadable("PDF") from exc
    try:
        with doc:
            if "/Info" in doc.trailer:
                _read_info(doc.trailer.Info, report)
                del doc.trailer["/Info"]
                report.remove("doc_info")
            if "/ID" in doc.trailer:
                del doc.trailer["/ID"]  # else qpdf keeps its first, permanent half
                report.remove("doc_id")
            for obj in doc.objects:
                if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                    _strip_object(obj, report)
            out = io.BytesIO()
            # static_id: the same id for every file, so the id cannot link the copies of a
            # document; encryption=False drops an owner password's restrictions (qpdf had to
            # decrypt it to read it, so no secret is lost); streams are copied as they are
            # stored, never decoded nor recompressed (a stream deflated twice could expand a
            # thousandfold twice).
            doc.save(
                out,
                static_id=True,
                encryption=False,
                fix_metadata_version=False,
                preserve_pdfa=False,
                compress_streams=False,
                stream_decode_level=pikepdf.StreamDecodeLevel.none,
            )
    except (pikepdf.PdfError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise Unreadable("PDF") from exc
    return out.getvalue()
