"""Stripping Office Open XML (docx, xlsx, pptx) and OpenDocument (odt, ods, odp) files.

Both are zip packages of XML parts. The property parts (docProps/core.xml, app.xml,
custom.xml; meta.xml) are replaced by empty ones of the same kind, so the package stays
valid without touching its relationships or manifest. In the other XML parts, the names
and dates of comment and revision authors are blanked and revision ids dropped, by
pattern on the bytes: the rest of each part is left byte for byte. Every entry gets the
same zip timestamp (1980-01-01) and no extra fields (which can hold owner ids and times).
"""

import io
import re
import zipfile

from whistle.scrub import spans
from whistle.scrub.result import Report, Unreadable

MAX_PART = 16 * 1024 * 1024  # an XML part we edit is read whole: this much at most
MAX_EXPANDED = 256 * 1024 * 1024  # all entries together, decompressed (a zip bomb is refused)
COPY_CHUNK = 1024 * 1024
_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_EMPTY_OOXML = {
    "docProps/core.xml": _DECLARATION + b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
    b'package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'xmlns:dcterms="http://purl.org/dc/terms/"/>',
    "docProps/app.xml": _DECLARATION + b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/'
    b'2006/extended-properties"/>',
    "docProps/custom.xml": _DECLARATION + b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/'
    b'2006/custom-properties"/>',
}
_PROPERTY_FINDINGS = (
    ("author", rb"<dc:creator>", b"</dc:creator>"),
    ("author", rb"<cp:lastModifiedBy>", b"</cp:lastModifiedBy>"),
    ("author", rb"<meta:initial-creator>", b"</meta:initial-creator>"),
    ("author", rb"<Manager>", b"</Manager>"),
    ("company", rb"<Company>", b"</Company>"),
    ("software", rb"<Application>", b"</Application>"),
    ("software", rb"<meta:generator>", b"</meta:generator>"),
    ("title", rb"<dc:title>", b"</dc:title>"),
    ("date", rb"<dcterms:created[^>]*>", b"</dcterms:created>"),
    ("date", rb"<meta:creation-date>", b"</meta:creation-date>"),
    ("path", rb"<Template>", b"</Template>"),
)

# OOXML: attributes naming a person are blanked (kept, since some are required), dates and
# revision ids removed (all optional), and elements holding ids or local paths dropped.
_OOXML_PERSON = re.compile(rb"""(\s(?:[\w.-]+:)?(?:author|initials|userId|providerId)=)("[^"]*"|'[^']*')""")
_OOXML_NAMED_PERSON = re.compile(rb"""(\s(?:name|displayName|initials)=)("[^"]*"|'[^']*')""")
_OOXML_DROP_ATTRIBUTE = re.compile(
    rb"""\s(?:w:date|w16du:dateUtc|(?:[\w.-]+:)?rsid\w*|xr\d*:uid|dt)=(?:"[^"]*"|'[^']*')"""
)
_OOXML_DROP_ELEMENT = re.compile(rb"<xr:revisionPtr\b[^>]*/>|<x15ac:absPath\b[^>]*/>|<w15:presenceInfo\b[^>]*/>")
_OOXML_RSIDS = (re.compile(rb"<w:rsids>"), b"</w:rsids>")
_XLSX_AUTHOR = (re.compile(rb"<author>"), b"</author>")
_PERSON_PARTS = re.compile(r"ppt/(?:commentAuthors|authors)\.xml|xl/persons/[^/]*\.xml")

# OpenDocument: comment and change authors and dates; LibreOffice's revision ids.
_ODF_CREATORS = (
    (re.compile(rb"<dc:creator>"), b"</dc:creator>"),
    (re.compile(rb"<meta:creator-initials>"), b"</meta:creator-initials>"),
)
_ODF_DATE = (re.compile(rb"<dc:date>"), b"</dc:date>")
_ODF_DROP_ATTRIBUTE = re.compile(rb"""\sofficeooo:(?:paragraph-)?rsid=(?:"[^"]*"|'[^']*')""")
_ODF_SETTINGS = (
    re.compile(rb'<config:config-item config:name="(?:Rsid|RsidRoot|PrinterName|PrinterSetup)"[^>]*>'),
    b"</config:config-item>",
)
_ODF_VERSION = re.compile(rb'office:version="([0-9.]{1,8})"')


def _values(pattern: re.Pattern, xml: bytes, group: int, kind: str, report: Report) -> None:
    for match in pattern.finditer(xml):
        report.find(kind, match.group(group).strip(b"\"'").decode("utf-8", "replace"))


def _blank(pattern: re.Pattern, xml: bytes) -> bytes:
    return pattern.sub(lambda match: match.group(1) + b'""', xml)


def _element_values(element: tuple[re.Pattern, bytes], xml: bytes, kind: str, report: Report) -> None:
    for value in spans.values(*element, xml):
        report.find(kind, value.decode("utf-8", "replace"))


def _element_blank(element: tuple[re.Pattern, bytes], xml: bytes, value: bytes = b"") -> bytes:
    """Each such element kept, holding ``value``."""
    return spans.replace(*element, xml, lambda opening, _old: opening + value + element[1])


def _element_drop(element: tuple[re.Pattern, bytes], xml: bytes) -> bytes:
    return spans.replace(*element, xml, lambda _opening, _old: b"")


def _step(xml: bytes, kind: str, report: Report, edit) -> bytes:
    """``edit(xml)``, noting ``kind`` as removed if it changed anything."""
    edited = edit(xml)
    if edited != xml:
        report.remove(kind)
    return edited


def _read_properties(xml: bytes, report: Report) -> None:
    for kind, opening, close in _PROPERTY_FINDINGS:
        _element_values((re.compile(opening), close), xml, kind, report)
    report.remove("properties")


def _blank_people(name: str, xml: bytes, report: Report) -> bytes:
    _values(_OOXML_PERSON, xml, 2, "author", report)
    xml = _blank(_OOXML_PERSON, xml)
    if _PERSON_PARTS.fullmatch(name):
        _values(_OOXML_NAMED_PERSON, xml, 2, "author", report)
        xml = _blank(_OOXML_NAMED_PERSON, xml)
    if name.startswith("xl/comments"):
        _element_values(_XLSX_AUTHOR, xml, "author", report)
        xml = _element_blank(_XLSX_AUTHOR, xml)
    return xml


def _ooxml_part(name: str, xml: bytes, report: Report) -> bytes:
    if name in _EMPTY_OOXML:
        _read_properties(xml, report)
        return _EMPTY_OOXML[name]
    xml = _step(xml, "comment_authors", report, lambda x: _blank_people(name, x, report))
    return _step(
        xml,
        "revision_ids",
        report,
        lambda x: _element_drop(_OOXML_RSIDS, _OOXML_DROP_ELEMENT.sub(b"", _OOXML_DROP_ATTRIBUTE.sub(b"", x))),
    )


def _odf_part(name: str, xml: bytes, report: Report) -> bytes:
    if name == "meta.xml":
        _read_properties(xml, report)
        version = _ODF_VERSION.search(xml)
        return (
            _DECLARATION.replace(b' standalone="yes"', b"")
            + b'<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            + b'office:version="'
            + (version.group(1) if version else b"1.2")
            + b'"><office:meta/>'
            + b"</office:document-meta>"
        )
    for creator in _ODF_CREATORS:
        _element_values(creator, xml, "author", report)
        xml = _step(xml, "comment_authors", report, lambda x, creator=creator: _element_blank(creator, x))
    xml = _step(xml, "timestamps", report, lambda x: _element_blank(_ODF_DATE, x, b"1970-01-01T00:00:00"))
    return _step(xml, "revision_ids", report, lambda x: _element_drop(_ODF_SETTINGS, _ODF_DROP_ATTRIBUTE.sub(b"", x)))


def _editor(names: set[str]):
    """Which parts to edit and how, by the package's kind; None if it is neither."""
    if "[Content_Types].xml" in names:
        return lambda name: (
            _ooxml_part
            if name.endswith((".xml", ".rels")) and not name.startswith("customXml/") and name != "[Content_Types].xml"
            else None
        )
    if "mimetype" in names and "content.xml" in names:
        return lambda name: _odf_part if name in ("meta.xml", "content.xml", "styles.xml", "settings.xml") else None
    return None


class _Budget:
    """Counts decompressed bytes across the package."""

    def __init__(self) -> None:
        self.left = MAX_EXPANDED

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise Unreadable("expands too much")


def office(data: bytes, report: Report) -> bytes:
    """The package rewritten without its metadata; Unreadable for anything else."""
    try:
        zin = zipfile.ZipFile(io.BytesIO(data))
        editor = _editor(set(zin.namelist()))
        if editor is None:
            raise Unreadable("not an office document")
        out, budget = io.BytesIO(), _Budget()
        with zin, zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                _copy(zin, zout, info, editor(info.filename), report, budget)
            if zin.comment:
                report.remove("other")
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        RuntimeError,
        NotImplementedError,
        EOFError,
        OSError,
        ValueError,
        UnicodeDecodeError,
    ) as exc:
        raise Unreadable("zip") from exc
    return out.getvalue()


def _copy(zin, zout, info: zipfile.ZipInfo, edit, report: Report, budget: _Budget) -> None:
    entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
    entry.compress_type = zipfile.ZIP_STORED if info.compress_type == zipfile.ZIP_STORED else zipfile.ZIP_DEFLATED
    if info.extra or info.comment or info.date_time != entry.date_time:
        report.remove("timestamps")
    if edit is not None:
        with zin.open(info) as src:
            xml = src.read(MAX_PART + 1)
        if len(xml) > MAX_PART:
            raise Unreadable("part too large to edit")
        budget.take(len(xml))
        zout.writestr(entry, edit(info.filename, xml, report))
        return
    with zin.open(info) as src, zout.open(entry, "w") as dst:
        while chunk := src.read(COPY_CHUNK):
            budget.take(len(chunk))
            dst.write(chunk)
