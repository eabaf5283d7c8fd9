"""Stripping identifying metadata from a reporter's file before it is sealed.

``scrub(name, content_type, data)`` recognises the format by its first bytes (never by the
name alone), strips it losslessly where the format allows, and says what it found and
removed. It never raises for what a file contains: a file it cannot read or clean comes
back unchanged with a status saying why, and the reporter is warned by name.
The browser does the same in static/js/scrub.js; docs/metadata.md lists what goes.
"""

from whistle.scrub import images, packages, pdf
from whistle.scrub.result import (
    CLEANED,
    FINDING_KINDS,
    REMOVED_KINDS,
    TOO_LARGE,
    UNREADABLE,
    UNSUPPORTED,
    Report,
    ScrubResult,
    Unreadable,
)

__all__ = [
    "scrub",
    "sniff",
    "ScrubResult",
    "CLEANED",
    "TOO_LARGE",
    "UNREADABLE",
    "UNSUPPORTED",
    "FINDING_KINDS",
    "REMOVED_KINDS",
]

_OFFICE_EXTENSIONS = (".docx", ".xlsx", ".pptx", ".docm", ".xlsm", ".pptm", ".odt", ".ods", ".odp", ".odg")
_STRIPPERS = {
    "jpeg": images.jpeg,
    "png": images.png,
    "webp": images.webp,
    "gif": images.gif,
    "pdf": pdf.pdf,
    "office": packages.office,
}


def sniff(name: str, content_type: str, head: bytes) -> str | None:
    """The format to strip, from the file's first bytes (a zip only if named like an office
    document, a text only if declared or named as one); None if we cannot clean it."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(images.PNG_SIGNATURE):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04") and (name or "").lower().endswith(_OFFICE_EXTENSIONS):
        return "office"
    if (content_type == "text/plain" or (name or "").lower().endswith(".txt")) and b"\x00" not in head:
        return "text"
    return None


def scrub(name: str, content_type: str, data: bytes, max_bytes: int | None = None) -> ScrubResult:
    """The bytes to seal for this file, and what was found and removed."""
    if max_bytes is not None and len(data) > max_bytes:
        return ScrubResult(data, TOO_LARGE)
    if not data:
        return ScrubResult(data, CLEANED)
    kind = sniff(name, content_type, data[:4096])
    if kind is None:
        return ScrubResult(data, UNSUPPORTED)
    if kind == "text":
        return ScrubResult(data, CLEANED)  # plain text holds nothing but what it shows
    report = Report()
    try:
        return report.result(_STRIPPERS[kind](data, report))
    except Unreadable:
        return ScrubResult(data, UNREADABLE)
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception:  # noqa: BLE001 - whatever a hostile file makes a parser do, it is sealed unchanged
        return ScrubResult(data, UNREADABLE)
