"""What stripping a file found and did, in words the reporter's page can translate.

A finding is a (kind, value) pair: the kind is one of FINDING_KINDS, a key the page turns
into a label in the reporter's language; the value is what the file said, shown as is.
What was removed is a list of REMOVED_KINDS keys, in the order they were first met.
The browser (static/js/scrub.js) reports the same keys.
"""

from dataclasses import dataclass, field

CLEANED = "cleaned"
UNSUPPORTED = "unsupported"  # a type we cannot clean: sealed unchanged
TOO_LARGE = "too_large"  # over the stripping size: sealed unchanged
UNREADABLE = "unreadable"  # looked like a known type but could not be parsed: unchanged

FINDING_KINDS = ("gps", "camera", "serial", "author", "company", "software", "date", "title", "path")
REMOVED_KINDS = (
    "exif",
    "xmp",
    "iptc",
    "comment",
    "text",
    "doc_info",
    "doc_id",
    "properties",
    "comment_authors",
    "revision_ids",
    "timestamps",
    "other",
)


@dataclass
class ScrubResult:
    """The bytes to seal and what happened to them."""

    data: bytes
    status: str
    found: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True if the bytes to seal are not the reporter's original bytes."""
        return self.status == CLEANED


class Report:
    """Collects findings and removed kinds while a format's stripper works, without repeats."""

    MAX_VALUE = 120

    def __init__(self) -> None:
        self.found: list[tuple[str, str]] = []
        self.removed: list[str] = []

    def find(self, kind: str, value) -> None:
        """Note what the file says about ``kind``; empty values are not findings."""
        assert kind in FINDING_KINDS, kind
        text = " ".join(str(value or "").replace("\x00", " ").split())[: self.MAX_VALUE]
        if text and (kind, text) not in self.found:
            self.found.append((kind, text))

    def remove(self, kind: str) -> None:
        """Note that a kind of metadata was taken out."""
        assert kind in REMOVED_KINDS, kind
        if kind not in self.removed:
            self.removed.append(kind)

    def result(self, data: bytes) -> ScrubResult:
        """The cleaned bytes with what was found and removed."""
        return ScrubResult(data, CLEANED, self.found, self.removed)


class Unreadable(Exception):
    """The file is not what its first bytes claimed, or is cut short."""
